"""Appending to a run's series on PostgreSQL: the series summary, min/max blocks and packed chunks
of scalars (the same layout as the SQLite store's, see tracker/store/chunks.py), and the rows of
histograms, texts and images; new rows go in with COPY. Every statement binds its data as
parameters."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from ...records import Histogram
from ..backend import SeriesPoints
from ..sqlite.chunks import CHUNK_POINTS, GROW_CAP, pack_floats, pack_steps, unpack_steps
from ..sqlite.series_writes import SMALL_APPEND, Blocks, _block_rows, block_columns
from .copy_rows import copy_columns, copy_rows

# A batch's series take one statement per table, all series at once: their summaries (a record
# series' update returns its count, to number the records it takes),
_UPDATE_SERIES = """
UPDATE series AS s SET
    count = s.count + u.n,
    first_step = coalesce(s.first_step, u.first_step),
    last_step = u.last_step,
    last_value = u.last_value,
    last_wall = u.last_wall,
    min_step = LEAST(s.min_step, u.min_step),
    max_step = GREATEST(s.max_step, u.max_step),
    min = LEAST(s.min, u.vmin),
    max = GREATEST(s.max, u.vmax),
    monotone = CASE WHEN s.monotone = 1 AND u.monotone = 1
                    AND (s.last_step IS NULL OR s.last_step <= u.first_step) THEN 1 ELSE 0 END
FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[], %b::float8[], %b::float8[],
            %b::bigint[], %b::bigint[], %b::float8[], %b::float8[], %b::int[])
     AS u(sid, n, first_step, last_step, last_value, last_wall, min_step, max_step, vmin, vmax,
          monotone)
WHERE s.id = u.sid
RETURNING s.count
"""

# ... their ids, counts and last chunks when those will take more points (read under the run's
# row lock, which the batch's transaction holds: no other writer of the run moves them meanwhile),
_SCALAR_STATE = """
SELECT s.id, s.key, s.count, c.seq0, c.n, c.step_lo, c.step_hi, c.steps, c.walls, c.vals
FROM series s
LEFT JOIN LATERAL (SELECT seq0, n, step_lo, step_hi, steps, walls, vals FROM point_chunks
                   WHERE series_id = s.id ORDER BY seq0 DESC LIMIT 1) c ON c.n < %b
WHERE s.run_id = %b AND s.kind = 'scalar' AND s.key = ANY(%b::text[])
"""

_NEW_SCALAR_SERIES = """
INSERT INTO series (run_id, kind, key) SELECT %b, 'scalar', k FROM unnest(%b::text[]) AS k
ON CONFLICT (run_id, kind, key) DO NOTHING
"""

# ... the blocks a batch continues (and those without a value) merged into the stored ones; the
# rest are new rows and go in with COPY.
_UPSERT_BLOCKS = """
INSERT INTO point_blocks (series_id, level, block, n, n_valid, step_lo, step_hi, vmin, vmax, vsum)
SELECT * FROM unnest(%b::bigint[], %b::int[], %b::bigint[], %b::int[], %b::int[], %b::bigint[],
                     %b::bigint[], %b::float8[], %b::float8[], %b::float8[])
ON CONFLICT (series_id, level, block) DO UPDATE SET
    n = point_blocks.n + excluded.n,
    n_valid = point_blocks.n_valid + excluded.n_valid,
    step_lo = LEAST(point_blocks.step_lo, excluded.step_lo),
    step_hi = GREATEST(point_blocks.step_hi, excluded.step_hi),
    vmin = LEAST(point_blocks.vmin, excluded.vmin),
    vmax = GREATEST(point_blocks.vmax, excluded.vmax),
    vsum = coalesce(point_blocks.vsum, 0) + coalesce(excluded.vsum, 0)
"""

_BLOCK_COLUMNS = (("series_id", "int8"), ("level", "int4"), ("block", "int8"), ("n", "int4"),
                  ("n_valid", "int4"), ("step_lo", "int8"), ("step_hi", "int8"),
                  ("vmin", "float8"), ("vmax", "float8"), ("vsum", "float8"))
_CHUNK_COLUMNS = (("series_id", "int8"), ("seq0", "int8"), ("n", "int4"), ("step_lo", "int8"),
                  ("step_hi", "int8"), ("steps", "bytea"), ("walls", "bytea"), ("vals", "bytea"))
_HISTOGRAM_COLUMNS = (("series_id", "int8"), ("step", "int8"), ("seq", "int8"), ("wall", "float8"),
                      ("count", "float8"), ("min", "float8"), ("max", "float8"), ("sum", "float8"),
                      ("sum_squares", "float8"), ("edges", "text"), ("counts", "text"))
_TEXT_COLUMNS = (("series_id", "int8"), ("step", "int8"), ("seq", "int8"), ("wall", "float8"),
                 ("value", "text"))
_IMAGE_COLUMNS = (("series_id", "int8"), ("step", "int8"), ("seq", "int8"), ("wall", "float8"),
                  ("format", "text"), ("width", "int4"), ("height", "int4"), ("caption", "text"),
                  ("data", "bytea"))
_FIELDS = ("level", "block", "n", "n_valid", "step_lo", "step_hi", "vmin", "vmax", "vsum")  # Blocks'
_GROW_CHUNK = ("UPDATE point_chunks SET n = %b, step_lo = %b, step_hi = %b, steps = %b,"
               " walls = %b, vals = %b WHERE series_id = %b AND seq0 = %b")


def real(value: float | None) -> float | None:
    """NaN stored as NULL, as in the SQLite store (so both read back the same)."""
    return None if value is None or math.isnan(value) else value


def series_id(conn: Any, run_id: str, kind: str, key: str) -> int:
    """The id of a run's series, created on first use."""
    row = conn.execute(
        "INSERT INTO series (run_id, kind, key) VALUES (%s, %s, %s)"
        " ON CONFLICT (run_id, kind, key) DO NOTHING RETURNING id",
        (run_id, kind, key),
    ).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT id FROM series WHERE run_id = %s AND kind = %s AND key = %s",
            (run_id, kind, key),
        ).fetchone()
    return int(row[0])


def _reserve(conn: Any, sid: int, steps: np.ndarray, last_wall: float) -> int:
    """Update a record series' summary for new records at ``steps``; return the seq of the first."""
    count = conn.execute(_UPDATE_SERIES, _columns([_summary(sid, steps, last_wall, None)]))
    return int(count.fetchone()[0]) - len(steps)


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as the columns ``unnest`` takes."""
    return [list(column) for column in zip(*rows)]


@dataclass
class _Tail:
    """A series' last chunk, when it will take more points."""

    seq0: int
    n: int
    steps: np.ndarray
    walls: bytes
    vals: bytes


def append_scalar_series(conn: Any, run_id: str, batch: list[SeriesPoints]) -> None:
    """Append points to a run's scalar series (distinct keys): their summaries, blocks and
    chunks, in a fixed number of statements whatever the number of series."""
    keys = [p.key for p in batch]
    state = _scalar_state(conn, run_id, keys)
    missing = [k for k in keys if k not in state]
    if missing:
        conn.execute(_NEW_SCALAR_SERIES, (run_id, missing))
        state.update(_scalar_state(conn, run_id, missing))
    summary: list[tuple[Any, ...]] = []
    upserts: list[tuple[Any, ...]] = []
    new_blocks: list[tuple[int, Blocks]] = []
    grown: list[tuple[Any, ...]] = []
    chunks: list[tuple[Any, ...]] = []
    for p in batch:
        sid, seq0, tail = state[p.key]
        steps = np.asarray(p.steps, dtype=np.int64)
        walls = np.asarray(p.walls, dtype=np.float64)
        values = np.asarray(p.values, dtype=np.float64)
        summary.append(_summary(sid, steps, float(walls[-1]), values))
        if len(steps) <= SMALL_APPEND:
            upserts += _block_rows(sid, seq0, steps, values)
        else:
            blocks = block_columns(seq0, steps, values)
            merge = (blocks.continues | np.isnan(blocks.vmin) | np.isnan(blocks.vmax)
                     | np.isnan(blocks.vsum))  # COPY sends no NULL: those rows go with the merges
            if merge.any():
                upserts += zip(repeat(sid), *(getattr(blocks, f)[merge].tolist() for f in _FIELDS))
                blocks = Blocks(*(getattr(blocks, f)[~merge] for f in (*_FIELDS, "continues")))
            new_blocks.append((sid, blocks))
        taken, grow = _grow_tail(sid, tail, steps, walls, values)
        grown += grow
        chunks += _new_chunks(sid, seq0, taken, steps, walls, values)
    conn.execute(_UPDATE_SERIES, _columns(summary))
    if upserts:
        conn.execute(_UPSERT_BLOCKS, [[real(v) if i >= 7 else v for v in column]
                                      for i, column in enumerate(zip(*upserts))])
    if new_blocks:
        _copy_blocks(conn, new_blocks)
    if grown:
        with conn.cursor() as cur:
            cur.executemany(_GROW_CHUNK, grown)
    if chunks:
        copy_rows(conn, "point_chunks", _CHUNK_COLUMNS, chunks)


def _scalar_state(conn: Any, run_id: str, keys: list[str]
                  ) -> dict[str, tuple[int, int, _Tail | None]]:
    """Per key: the series id, its count (the seq of the next point) and its growable tail."""
    out: dict[str, tuple[int, int, _Tail | None]] = {}
    for sid, key, count, seq0, n, step_lo, step_hi, steps, walls, vals in conn.execute(
            _SCALAR_STATE, (GROW_CAP, run_id, keys)):
        tail = None
        if seq0 is not None and seq0 + n == count:
            tail = _Tail(int(seq0), int(n), unpack_steps(bytes(steps), n, step_lo, step_hi),
                         bytes(walls), bytes(vals))
        out[key] = (int(sid), int(count), tail)
    return out


def _summary(sid: int, steps: np.ndarray, last_wall: float,
             values: np.ndarray | None) -> tuple[Any, ...]:
    """A series' summary update for new points, or records (``values`` None): a row of the
    columns _UPDATE_SERIES takes."""
    vmin = vmax = last_value = None
    if values is not None:
        kept = values[~np.isnan(values)]
        if kept.size:
            vmin, vmax = float(kept.min()), float(kept.max())
        last_value = real(float(values[-1]))
    monotone = int(bool(np.all(steps[1:] >= steps[:-1])))
    return (sid, len(steps), int(steps[0]), int(steps[-1]), last_value, float(last_wall),
            int(steps.min()), int(steps.max()), vmin, vmax, monotone)


def _grow_tail(sid: int, tail: _Tail | None, steps: np.ndarray, walls: np.ndarray,
               values: np.ndarray) -> tuple[int, list[tuple[Any, ...]]]:
    """How many new points a last chunk under GROW_CAP points takes (a slowly logged series gets
    one row per GROW_CAP points, not one per flush), and its update: [] or one _GROW_CHUNK row."""
    if tail is None:
        return 0, []
    taken = min(GROW_CAP - tail.n, len(steps))
    joined = np.concatenate((tail.steps, steps[:taken]))
    return taken, [(tail.n + taken, int(joined.min()), int(joined.max()), pack_steps(joined),
                    tail.walls + pack_floats(walls[:taken]),
                    tail.vals + pack_floats(values[:taken]), sid, tail.seq0)]


def _new_chunks(sid: int, seq0: int, taken: int, steps: np.ndarray, walls: np.ndarray,
                values: np.ndarray) -> list[tuple[Any, ...]]:
    """Points seq0 + taken.. of a series as new chunk rows."""
    rows = []
    for a in range(taken, len(steps), CHUNK_POINTS):
        part = steps[a : a + CHUNK_POINTS]
        rows.append((sid, seq0 + a, len(part), int(part.min()), int(part.max()), pack_steps(part),
                     pack_floats(walls[a : a + CHUNK_POINTS]),
                     pack_floats(values[a : a + CHUNK_POINTS])))
    return rows


def _copy_blocks(conn: Any, parts: list[tuple[int, Blocks]]) -> None:
    """New block rows (no NULLs among them) with one COPY."""
    columns = [np.concatenate([np.full(len(b.level), sid, dtype=np.int64) for sid, b in parts])]
    columns += [np.concatenate([getattr(b, f) for _, b in parts]) for f in _FIELDS]
    copy_columns(conn, "point_blocks",
                 [(name, pg_type, values)
                  for (name, pg_type), values in zip(_BLOCK_COLUMNS, columns)])


def append_histograms(conn: Any, sid: int, items: list[tuple[int, float, Histogram]]) -> None:
    seq0 = _reserve(conn, sid, np.array([s for s, _, _ in items], dtype=np.int64), items[-1][1])
    copy_rows(conn, "histograms", _HISTOGRAM_COLUMNS, [
        (sid, int(step), seq0 + i, float(wall), float(h.count), real(h.min), real(h.max),
         real(h.sum), real(h.sum_squares), json.dumps([float(x) for x in h.edges]),
         json.dumps([float(x) for x in h.counts]))
        for i, (step, wall, h) in enumerate(items)])


def append_texts(conn: Any, sid: int, items: list[tuple[int, float, str]]) -> None:
    seq0 = _reserve(conn, sid, np.array([s for s, _, _ in items], dtype=np.int64), items[-1][1])
    copy_rows(conn, "texts", _TEXT_COLUMNS, [
        (sid, int(step), seq0 + i, float(wall), text) for i, (step, wall, text) in enumerate(items)])


def append_images(conn: Any, sid: int, items: list[Any]) -> None:
    """Append ``ImageItem``s (encoded bytes and their format, size and caption)."""
    seq0 = _reserve(conn, sid, np.array([it.step for it in items], dtype=np.int64), items[-1].wall)
    copy_rows(conn, "images", _IMAGE_COLUMNS, [
        (sid, int(it.step), seq0 + i, float(it.wall), it.image.format, int(it.image.width),
         int(it.image.height), it.image.caption, bytes(it.image.data))
        for i, it in enumerate(items)])
