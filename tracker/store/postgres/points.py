"""Appending to a run's series on PostgreSQL: the series summary, min/max blocks and packed chunks
of scalars (the same layout as the SQLite store's, see tracker/store/chunks.py), and the rows of
histograms, texts and images. Every statement binds its data as parameters."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ...records import Histogram
from ..sqlite.chunks import CHUNK_POINTS, GROW_CAP, pack_floats, pack_steps, unpack_steps
from ..sqlite.series_writes import _block_rows

_UPDATE_SERIES = """
UPDATE series SET
    count = count + %(n)s,
    first_step = coalesce(first_step, %(first_step)s),
    last_step = %(last_step)s,
    last_value = %(last_value)s,
    last_wall = %(last_wall)s,
    min_step = LEAST(min_step, %(min_step)s),
    max_step = GREATEST(max_step, %(max_step)s),
    min = LEAST(min, %(vmin)s),
    max = GREATEST(max, %(vmax)s),
    monotone = CASE WHEN monotone = 1 AND %(monotone)s = 1
                    AND (last_step IS NULL OR last_step <= %(first_step)s) THEN 1 ELSE 0 END
WHERE id = %(sid)s
RETURNING count
"""

# One statement for all of a flush's blocks (1M points make 21k block rows).
_UPSERT_BLOCKS = """
INSERT INTO point_blocks (series_id, level, block, n, n_valid, step_lo, step_hi, vmin, vmax, vsum)
SELECT %b, * FROM unnest(%b::int[], %b::bigint[], %b::int[], %b::int[], %b::bigint[],
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


def _reserve(conn: Any, sid: int, steps: np.ndarray, last_wall: float,
             values: np.ndarray | None) -> int:
    """Update the series summary for the new points; return the seq of the first."""
    n = len(steps)
    vmin = vmax = last_value = None
    if values is not None and n:
        kept = values[~np.isnan(values)]
        if kept.size:
            vmin, vmax = float(kept.min()), float(kept.max())
        last_value = real(float(values[-1]))
    count = conn.execute(_UPDATE_SERIES, {
        "sid": sid, "n": n, "first_step": int(steps[0]), "last_step": int(steps[-1]),
        "last_value": last_value, "last_wall": float(last_wall),
        "min_step": int(steps.min()), "max_step": int(steps.max()), "vmin": vmin, "vmax": vmax,
        "monotone": int(bool(np.all(steps[1:] >= steps[:-1]))),
    }).fetchone()[0]
    return int(count) - n


def append_scalars(conn: Any, sid: int, steps: np.ndarray, walls: np.ndarray,
                   values: np.ndarray) -> None:
    """Append points to a scalar series: its summary, blocks and chunks."""
    steps = np.asarray(steps, dtype=np.int64)
    walls = np.asarray(walls, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    seq0 = _reserve(conn, sid, steps, float(walls[-1]), values)
    rows = _block_rows(sid, seq0, steps, values)
    if rows:
        columns = list(zip(*rows))
        floats = [[real(v) for v in columns[i]] for i in (7, 8, 9)]
        conn.execute(_UPSERT_BLOCKS, (sid, *[list(c) for c in columns[1:7]], *floats))
    _write_chunks(conn, sid, seq0, steps, walls, values)


def _write_chunks(conn: Any, sid: int, seq0: int, steps: np.ndarray, walls: np.ndarray,
                  values: np.ndarray) -> None:
    """Points seq0.. of a series into chunks: a last chunk under GROW_CAP points takes them
    first (a slowly logged series gets one row per GROW_CAP points, not one per flush)."""
    taken = 0
    if seq0:
        last = conn.execute(
            "SELECT seq0, n, step_lo, step_hi, CASE WHEN n < %(cap)s THEN steps END,"
            " CASE WHEN n < %(cap)s THEN walls END, CASE WHEN n < %(cap)s THEN vals END"
            " FROM point_chunks WHERE series_id = %(sid)s ORDER BY seq0 DESC LIMIT 1",
            {"sid": sid, "cap": GROW_CAP},
        ).fetchone()
        if last is not None and last[1] < GROW_CAP and last[0] + last[1] == seq0:
            first, n, step_lo, step_hi, old_steps, old_walls, old_vals = last
            taken = min(GROW_CAP - n, len(steps))
            joined = np.concatenate((unpack_steps(bytes(old_steps), n, step_lo, step_hi),
                                     steps[:taken]))
            conn.execute(
                "UPDATE point_chunks SET n = %s, step_lo = %s, step_hi = %s, steps = %s,"
                " walls = %s, vals = %s WHERE series_id = %s AND seq0 = %s",
                (n + taken, int(joined.min()), int(joined.max()), pack_steps(joined),
                 bytes(old_walls) + pack_floats(walls[:taken]),
                 bytes(old_vals) + pack_floats(values[:taken]), sid, first),
            )
    rows = []
    for a in range(taken, len(steps), CHUNK_POINTS):
        part = steps[a : a + CHUNK_POINTS]
        rows.append((sid, seq0 + a, len(part), int(part.min()), int(part.max()), pack_steps(part),
                     pack_floats(walls[a : a + CHUNK_POINTS]),
                     pack_floats(values[a : a + CHUNK_POINTS])))
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO point_chunks (series_id, seq0, n, step_lo, step_hi, steps, walls, vals)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )


def append_histograms(conn: Any, sid: int, items: list[tuple[int, float, Histogram]]) -> None:
    seq0 = _reserve(conn, sid, np.array([s for s, _, _ in items], dtype=np.int64), items[-1][1],
                    None)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO histograms (series_id, step, seq, wall, count, min, max, sum,"
            " sum_squares, edges, counts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (sid, int(step), seq0 + i, float(wall), float(h.count), real(h.min), real(h.max),
                 real(h.sum), real(h.sum_squares), json.dumps([float(x) for x in h.edges]),
                 json.dumps([float(x) for x in h.counts]))
                for i, (step, wall, h) in enumerate(items)
            ],
        )


def append_texts(conn: Any, sid: int, items: list[tuple[int, float, str]]) -> None:
    seq0 = _reserve(conn, sid, np.array([s for s, _, _ in items], dtype=np.int64), items[-1][1],
                    None)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO texts (series_id, step, seq, wall, value) VALUES (%s, %s, %s, %s, %s)",
            [(sid, int(step), seq0 + i, float(wall), text) for i, (step, wall, text) in enumerate(items)],
        )


def append_images(conn: Any, sid: int, items: list[Any]) -> None:
    """Append ``ImageItem``s (encoded bytes and their format, size and caption)."""
    seq0 = _reserve(conn, sid, np.array([it.step for it in items], dtype=np.int64), items[-1].wall,
                    None)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO images (series_id, step, seq, wall, format, width, height, caption, data)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(sid, int(it.step), seq0 + i, float(it.wall), it.image.format, int(it.image.width),
              int(it.image.height), it.image.caption, bytes(it.image.data))
             for i, it in enumerate(items)],
        )
