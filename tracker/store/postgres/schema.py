"""The PostgreSQL store's schema, its version (table ``tracker_schema``) and its migrations.

The same tables and meanings as the SQLite store's schema 3 (tracker/store/schema.py), so a run
reads the same from either: scalar points packed in ``point_chunks`` (measured against one row per
point in benchmarks/bench_postgres_raw.py: 3x faster to write, 20x faster to read 1M points, 8x
less disk), min/max/sum blocks in ``point_blocks``, one row per histogram, text, image and console
line. Differences: ``series``, ``graphs`` and ``profiles`` ids come from identity columns;
BLOBs are ``bytea``; REALs are ``double precision`` (a NaN summary value is still stored as NULL,
as in SQLite, so readers see one convention). The heartbeat is the server's clock, so crash
detection does not depend on the clocks of the hosts agreeing.
"""

from __future__ import annotations

SCHEMA_VERSION = 2

# Every statement of a version's script runs in the migrating transaction.
_V1 = """
CREATE TABLE tracker_schema (version integer NOT NULL);
INSERT INTO tracker_schema (version) VALUES (0);

CREATE TABLE runs (
    id          text PRIMARY KEY,
    project     text NOT NULL,
    name        text NOT NULL,
    group_name  text,
    status      text NOT NULL,
    config      text NOT NULL DEFAULT '{}',
    tags        text NOT NULL DEFAULT '[]',
    notes       text,
    summary     text NOT NULL DEFAULT '{}',
    host        text,
    pid         integer,
    rank        integer,
    local_rank  integer,
    world_size  integer,
    started     double precision NOT NULL,
    ended       double precision,
    heartbeat   double precision NOT NULL
);
CREATE INDEX runs_project_started ON runs(project, started);

CREATE TABLE series (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      text NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind        text NOT NULL,
    key         text NOT NULL,
    count       bigint NOT NULL DEFAULT 0,
    first_step  bigint,
    last_step   bigint,
    min_step    bigint,
    max_step    bigint,
    last_value  double precision,
    last_wall   double precision,
    min         double precision,
    max         double precision,
    monotone    integer NOT NULL DEFAULT 1,
    UNIQUE (run_id, kind, key)
);

CREATE TABLE point_chunks (
    series_id   bigint NOT NULL REFERENCES series(id) ON DELETE CASCADE,
    seq0        bigint NOT NULL,
    n           integer NOT NULL,
    step_lo     bigint NOT NULL,
    step_hi     bigint NOT NULL,
    steps       bytea NOT NULL,
    walls       bytea NOT NULL,
    vals        bytea NOT NULL,
    PRIMARY KEY (series_id, seq0)
);
-- The blobs are little-endian floats: compressing them costs CPU and saves little.
ALTER TABLE point_chunks ALTER COLUMN walls SET STORAGE EXTERNAL;
ALTER TABLE point_chunks ALTER COLUMN vals SET STORAGE EXTERNAL;
ALTER TABLE point_chunks ALTER COLUMN steps SET STORAGE EXTERNAL;

CREATE TABLE point_blocks (
    series_id   bigint NOT NULL REFERENCES series(id) ON DELETE CASCADE,
    level       integer NOT NULL,
    block       bigint NOT NULL,
    n           integer NOT NULL,
    n_valid     integer NOT NULL,
    step_lo     bigint NOT NULL,
    step_hi     bigint NOT NULL,
    vmin        double precision,
    vmax        double precision,
    vsum        double precision,
    PRIMARY KEY (series_id, level, block)
);

CREATE TABLE histograms (
    series_id   bigint NOT NULL REFERENCES series(id) ON DELETE CASCADE,
    step        bigint NOT NULL,
    seq         bigint NOT NULL,
    wall        double precision NOT NULL,
    count       double precision NOT NULL,
    min         double precision,
    max         double precision,
    sum         double precision,
    sum_squares double precision,
    edges       text NOT NULL,
    counts      text NOT NULL,
    PRIMARY KEY (series_id, seq)
);
CREATE INDEX histograms_step ON histograms(series_id, step, seq);

CREATE TABLE texts (
    series_id   bigint NOT NULL REFERENCES series(id) ON DELETE CASCADE,
    step        bigint NOT NULL,
    seq         bigint NOT NULL,
    wall        double precision NOT NULL,
    value       text NOT NULL,
    PRIMARY KEY (series_id, seq)
);

CREATE TABLE images (
    series_id   bigint NOT NULL REFERENCES series(id) ON DELETE CASCADE,
    step        bigint NOT NULL,
    seq         bigint NOT NULL,
    wall        double precision NOT NULL,
    format      text NOT NULL,
    width       integer NOT NULL,
    height      integer NOT NULL,
    caption     text,
    data        bytea NOT NULL,
    PRIMARY KEY (series_id, seq)
);
CREATE INDEX images_step ON images(series_id, step, seq);

CREATE TABLE console_lines (
    run_id      text NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    stream      text NOT NULL,
    wall        double precision NOT NULL,
    step        bigint,
    text        text NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX console_lines_step ON console_lines(run_id, step);

CREATE TABLE graphs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      text NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name        text NOT NULL,
    framework   text NOT NULL,
    source      text NOT NULL,
    created     double precision NOT NULL,
    node_count  integer NOT NULL,
    edge_count  integer NOT NULL,
    total_params bigint NOT NULL,
    raw         bytea,
    raw_format  text,
    meta        text NOT NULL DEFAULT '{}'
);
CREATE INDEX graphs_run ON graphs(run_id);

CREATE TABLE graph_nodes (
    graph_id    bigint NOT NULL REFERENCES graphs(id) ON DELETE CASCADE,
    idx         integer NOT NULL,
    name        text NOT NULL,
    scope       text NOT NULL,
    op          text NOT NULL,
    kind        text NOT NULL,
    shape       text,
    dtype       text,
    params      bigint NOT NULL DEFAULT 0,
    attrs       text NOT NULL DEFAULT '{}',
    PRIMARY KEY (graph_id, idx)
);

CREATE TABLE graph_edges (
    graph_id    bigint NOT NULL REFERENCES graphs(id) ON DELETE CASCADE,
    idx         integer NOT NULL,
    src         integer NOT NULL,
    dst         integer NOT NULL,
    PRIMARY KEY (graph_id, idx)
);

CREATE TABLE profiles (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      text NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name        text NOT NULL,
    framework   text NOT NULL,
    created     double precision NOT NULL,
    step_from   bigint,
    step_to     bigint,
    duration_ns double precision,
    trace       bytea,
    trace_format text,
    trace_name  text,
    meta        text NOT NULL DEFAULT '{}'
);
CREATE INDEX profiles_run ON profiles(run_id);

CREATE TABLE profile_ops (
    profile_id  bigint NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    name        text NOT NULL,
    category    text NOT NULL,
    calls       bigint NOT NULL,
    self_ns     double precision NOT NULL,
    total_ns    double precision NOT NULL,
    device_self_ns  double precision,
    device_total_ns double precision,
    cpu_mem     bigint,
    device_mem  bigint,
    flops       double precision,
    shapes      text,
    module      text
);
CREATE INDEX profile_ops_profile ON profile_ops(profile_id);

CREATE TABLE profile_steps (
    profile_id  bigint NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    idx         integer NOT NULL,
    step        bigint NOT NULL,
    duration_ns double precision NOT NULL,
    PRIMARY KEY (profile_id, idx)
);

-- For psql: SELECT * FROM runs_overview WHERE project = 'mnist';
CREATE VIEW runs_overview AS
    SELECT r.project, r.name, r.id, r.status, r.started, r.ended, s.key, s.count,
           s.last_step, s.last_value
    FROM runs r LEFT JOIN series s ON s.run_id = r.id AND s.kind = 'scalar';
"""

# Version 2: point_blocks rows are removed with their series by a trigger instead of a foreign
# key. A flush writes about 2,000 block rows per 100k points, and the key's check on each row
# (a lookup in series) was most of the time COPY took to insert them. The trigger keeps the
# cascade that a DELETE of runs or series (the app's, or a user's in psql) relies on.
_V2 = """
ALTER TABLE point_blocks DROP CONSTRAINT point_blocks_series_id_fkey;
CREATE FUNCTION tracker_delete_series_blocks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM point_blocks b USING gone WHERE b.series_id = gone.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER series_blocks_deleted AFTER DELETE ON series REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION tracker_delete_series_blocks();
"""

# MIGRATIONS[v]: the script that takes the schema from version v to v + 1 (0: an empty database).
MIGRATIONS: dict[int, str] = {0: _V1, 1: _V2}
# The oldest schema that reads and edits the same as the current one: a reader (a SELECT-only
# role too) need not wait for a writer to migrate a team's database.
READS_FROM = 1
assert len(MIGRATIONS) == SCHEMA_VERSION

# Taken (transaction-scoped) by whoever creates or migrates the schema, so 8 processes starting
# at once into an empty database do not race; a constant picked for this project.
MIGRATION_LOCK = 0x7472_6B72  # "trkr"
