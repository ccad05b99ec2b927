"""The store's schema, its version (``PRAGMA user_version``) and the migrations between versions.

Every table is typed and readable with the ``sqlite3`` shell. Scalar points live packed in
``point_chunks`` (see ``chunks.py``; ``tracker sql`` reads them as the ``metrics`` view). NaN
cannot be stored in an SQLite REAL column (SQLite turns it into NULL), so a NULL summary value
means NaN; +-Inf are stored as such.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import numpy as np

from .chunks import GROW_CAP, read_seqs, write_chunks
from .series_writes import append_scalars

SCHEMA_VERSION = 3

# Version 1, as released: every point was stored twice, as a row of ``points`` (the source of
# truth, read by the ``metrics`` view) and packed in ``point_chunks`` (one row per flush).
_V1 = """
CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    project     TEXT NOT NULL,
    name        TEXT NOT NULL,
    group_name  TEXT,
    status      TEXT NOT NULL,              -- running | finished | failed | killed
    config      TEXT NOT NULL DEFAULT '{}', -- JSON object, as given to init()
    tags        TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    notes       TEXT,
    summary     TEXT NOT NULL DEFAULT '{}', -- JSON object set by run.summary / hooks
    host        TEXT,
    pid         INTEGER,
    rank        INTEGER,
    local_rank  INTEGER,
    world_size  INTEGER,
    started     REAL NOT NULL,              -- unix seconds
    ended       REAL,
    heartbeat   REAL NOT NULL               -- refreshed by the writer while the process lives
);
CREATE INDEX runs_project_started ON runs(project, started);

-- One row per (run, kind, key): the key's summary, kept in step by the writer.
CREATE TABLE series (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(id),
    kind        TEXT NOT NULL,              -- scalar | histogram | text | image (v3)
    key         TEXT NOT NULL,
    count       INTEGER NOT NULL DEFAULT 0, -- points so far; the next point's seq
    first_step  INTEGER,
    last_step   INTEGER,
    min_step    INTEGER,
    max_step    INTEGER,
    last_value  REAL,
    last_wall   REAL,
    min         REAL,
    max         REAL,
    monotone    INTEGER NOT NULL DEFAULT 1, -- 1 while steps never went backwards
    UNIQUE (run_id, kind, key)
);

-- One row per logged scalar. seq numbers the points of a series in logging order, so repeated
-- steps are all kept.
CREATE TABLE points (
    series_id   INTEGER NOT NULL,
    step        INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    wall        REAL NOT NULL,
    value       REAL,                       -- NULL means NaN
    PRIMARY KEY (series_id, step, seq)
) WITHOUT ROWID;

CREATE TABLE point_blocks (
    series_id   INTEGER NOT NULL,
    level       INTEGER NOT NULL,
    block       INTEGER NOT NULL,           -- seq // BLOCK_SIZES[level]
    n           INTEGER NOT NULL,
    n_valid     INTEGER NOT NULL,           -- points that are not NaN
    step_lo     INTEGER NOT NULL,
    step_hi     INTEGER NOT NULL,
    vmin        REAL,
    vmax        REAL,
    vsum        REAL,
    PRIMARY KEY (series_id, level, block)
) WITHOUT ROWID;
CREATE INDEX point_blocks_steps ON point_blocks(series_id, level, step_lo);

-- A packed copy of each flush's points per series (little-endian int64 steps, float64 walls and
-- values, NaN kept), so a full series reads back in milliseconds. points stays the source of truth.
CREATE TABLE point_chunks (
    series_id   INTEGER NOT NULL,
    seq0        INTEGER NOT NULL,           -- seq of the chunk's first point
    n           INTEGER NOT NULL,
    step_lo     INTEGER NOT NULL,
    step_hi     INTEGER NOT NULL,
    steps       BLOB NOT NULL,
    walls       BLOB NOT NULL,
    vals        BLOB NOT NULL
);
CREATE UNIQUE INDEX point_chunks_series ON point_chunks(series_id, seq0);

CREATE TABLE histograms (
    series_id   INTEGER NOT NULL,
    step        INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    wall        REAL NOT NULL,
    count       REAL NOT NULL,
    min         REAL,
    max         REAL,
    sum         REAL,
    sum_squares REAL,
    edges       TEXT NOT NULL,              -- JSON array, k+1 bucket edges
    counts      TEXT NOT NULL,              -- JSON array, k bucket counts
    PRIMARY KEY (series_id, step, seq)
) WITHOUT ROWID;

CREATE TABLE texts (
    series_id   INTEGER NOT NULL,
    step        INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    wall        REAL NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (series_id, step, seq)
) WITHOUT ROWID;

CREATE TABLE graphs (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(id),
    name        TEXT NOT NULL,
    framework   TEXT NOT NULL,
    source      TEXT NOT NULL,              -- fx | hooks | keras_config | jaxpr | ...
    created     REAL NOT NULL,
    node_count  INTEGER NOT NULL,
    edge_count  INTEGER NOT NULL,
    total_params INTEGER NOT NULL,
    raw         BLOB,                       -- zlib-compressed framework form (StableHLO, GraphDef...)
    raw_format  TEXT,
    meta        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX graphs_run ON graphs(run_id);

CREATE TABLE graph_nodes (
    graph_id    INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    op          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    shape       TEXT,
    dtype       TEXT,
    params      INTEGER NOT NULL DEFAULT 0,
    attrs       TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (graph_id, idx)
) WITHOUT ROWID;

CREATE TABLE graph_edges (
    graph_id    INTEGER NOT NULL,
    src         INTEGER NOT NULL,
    dst         INTEGER NOT NULL
);
CREATE INDEX graph_edges_graph ON graph_edges(graph_id);

CREATE TABLE profiles (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(id),
    name        TEXT NOT NULL,
    framework   TEXT NOT NULL,
    created     REAL NOT NULL,
    step_from   INTEGER,
    step_to     INTEGER,
    duration_ns REAL,
    trace       BLOB,                       -- zlib-compressed raw capture
    trace_format TEXT,                      -- torch_chrome_json | xplane
    trace_name  TEXT,                       -- host / worker name for the TensorBoard layouts
    meta        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX profiles_run ON profiles(run_id);

CREATE TABLE profile_ops (
    profile_id  INTEGER NOT NULL,
    name        TEXT NOT NULL,
    category    TEXT NOT NULL,
    calls       INTEGER NOT NULL,
    self_ns     REAL NOT NULL,
    total_ns    REAL NOT NULL,
    device_self_ns  REAL,
    device_total_ns REAL,
    cpu_mem     INTEGER,
    device_mem  INTEGER,
    flops       REAL,
    shapes      TEXT,
    module      TEXT
);
CREATE INDEX profile_ops_profile ON profile_ops(profile_id);

CREATE TABLE profile_steps (
    profile_id  INTEGER NOT NULL,
    step        INTEGER NOT NULL,
    duration_ns REAL NOT NULL
);
CREATE INDEX profile_steps_profile ON profile_steps(profile_id);

-- Convenience view for the sqlite3 shell: SELECT * FROM metrics WHERE run = 'baseline' AND key = 'loss';
CREATE VIEW metrics AS
    SELECT r.project, r.name AS run, r.id AS run_id, s.key, p.step, p.wall, p.value
    FROM points p JOIN series s ON s.id = p.series_id JOIN runs r ON r.id = s.run_id;
"""


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Execute a multi-statement script inside the caller's open transaction.

    ``Connection.executescript`` would COMMIT first, so a half-migrated file could be left behind.
    """
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip():
        conn.execute(statement)


def _chunks_only(conn: sqlite3.Connection) -> None:
    """Version 1 -> 2: ``point_chunks`` becomes the one home of points (``points`` and the
    ``metrics`` view go).

    Every version-1 flush wrote both in one transaction; this checks it. A series whose chunks do
    not hold exactly its ``points`` rows (seq 0 .. count - 1, contiguous; a user may have edited
    ``points`` in the sqlite3 shell) is written anew from those rows, the source of truth in
    version 1. A series with many small chunks (logged a few points per flush: one row per flush
    in version 1) is repacked into chunks of up to CHUNK_POINTS points. Blocks of 16 points
    (level 0) and the index of blocks by step go.
    """
    points = {
        sid: (count, seq_min, seq_max)
        for sid, count, seq_min, seq_max in conn.execute(
            "SELECT series_id, count(*), min(seq), max(seq) FROM points GROUP BY series_id"
        )
    }
    spans: dict[int, list[tuple[int, int]]] = {}
    for sid, seq0, n in conn.execute(
        "SELECT series_id, seq0, n FROM point_chunks ORDER BY series_id, seq0"
    ):
        spans.setdefault(sid, []).append((seq0, n))
    counts = dict(conn.execute("SELECT id, count FROM series WHERE kind = 'scalar'"))
    for sid in sorted(set(points) | set(spans)):
        count, seq_min, seq_max = points.get(sid, (0, None, None))
        have = spans.get(sid, [])
        ends = [seq0 + n for seq0, n in have]
        covered = (
            counts.get(sid) == count > 0
            and (seq_min, seq_max) == (0, count - 1)
            and [seq0 for seq0, _ in have] == [0, *ends[:-1]]
            and ends[-1] == count
        )
        if not covered:
            _rewrite_from_points(conn, sid, sid in counts)
        elif sum(1 for _, n in have[:-1] if n < GROW_CAP) > 1:
            steps, values, walls = read_seqs(conn, sid, 0, None)
            conn.execute("DELETE FROM point_chunks WHERE series_id = ?", (sid,))
            write_chunks(conn, sid, 0, steps, walls, values)
    conn.execute("DELETE FROM point_blocks WHERE level = 0")  # see series_writes.BLOCK_SIZES
    conn.execute("DROP INDEX point_blocks_steps")  # reductions find blocks by number (reduce.py)
    conn.execute("DROP VIEW IF EXISTS metrics")
    conn.execute("DROP TABLE points")


_REWRITE_BATCH = 1 << 20  # points read from ``points`` at a time


def _rewrite_from_points(conn: sqlite3.Connection, sid: int, is_scalar_series: bool) -> None:
    """A series' chunks, blocks and summary written anew from its ``points`` rows in seq order
    (renumbered from 0; a NULL value is NaN). Rows of no scalar series are dropped."""
    for table in ("point_chunks", "point_blocks"):
        conn.execute(f"DELETE FROM {table} WHERE series_id = ?", (sid,))
    if not is_scalar_series:
        return
    conn.execute(
        "UPDATE series SET count = 0, first_step = NULL, last_step = NULL, min_step = NULL,"
        " max_step = NULL, last_value = NULL, last_wall = NULL, min = NULL, max = NULL,"
        " monotone = 1 WHERE id = ?",
        (sid,),
    )
    rows = conn.execute(
        "SELECT step, wall, value FROM points WHERE series_id = ? ORDER BY seq", (sid,)
    )
    while batch := rows.fetchmany(_REWRITE_BATCH):
        columns = list(zip(*batch))
        append_scalars(
            conn,
            sid,
            np.array(columns[0], dtype=np.int64),
            np.array(columns[1], dtype=np.float64),
            np.array(columns[2], dtype=np.float64),  # None -> NaN
        )

# Version 3: logged images and captured console lines.
_V3 = """
-- One row per logged image (series kind 'image'): PNG or JPEG bytes, as encoded by the writer. A
-- batch is stored as one grid image. A rowid table: the blobs are large, the key index small.
CREATE TABLE images (
    series_id   INTEGER NOT NULL,
    step        INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    wall        REAL NOT NULL,
    format      TEXT NOT NULL,              -- png | jpeg
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    caption     TEXT,
    data        BLOB NOT NULL
);
CREATE UNIQUE INDEX images_series ON images(series_id, step, seq);

-- One row per captured console line (its final state: a \\r-rewritten line once), in the order
-- the lines were read; step is the run's step when the line arrived (NULL before the first log).
CREATE TABLE console_lines (
    run_id      TEXT NOT NULL REFERENCES runs(id),
    seq         INTEGER NOT NULL,
    stream      TEXT NOT NULL,              -- stdout | stderr
    wall        REAL NOT NULL,
    step        INTEGER,
    text        TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX console_lines_step ON console_lines(run_id, step);
"""


# MIGRATIONS[v] upgrades a store at version v to v + 1, inside one transaction. Version 0 is empty.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: lambda conn: run_script(conn, _V1),
    1: _chunks_only,
    2: lambda conn: run_script(conn, _V3),
}
assert len(MIGRATIONS) == SCHEMA_VERSION
