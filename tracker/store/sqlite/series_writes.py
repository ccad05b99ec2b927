"""SQL that appends points to a series and keeps its summary, min/max blocks and packed chunks
in step."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from ..backend import HistogramItem, TextItem
from .chunks import write_chunks

# Points are grouped into blocks of BLOCK_SIZES[level] consecutive points (by seq, per series);
# the writer keeps each block's step range and min/max/sum so charts reduce 1M points in a few ms.
# Level l holds blocks of 16 * 4**l points. Level 0 (16 points) is no longer written (schema 2):
# wherever a reduction would use it, reading the raw points from their chunks is faster
# (measured: 1,000 buckets of 20k-127k points, 1-7 ms raw, 8-39 ms from its rows), and its rows
# took 4 B a point.
BLOCK_SIZES = {1: 64, 2: 256, 3: 1024, 4: 4096}
SMALL_APPEND = 16  # up to this many points, block aggregates are computed without numpy

_UPDATE_SERIES = """
UPDATE series SET
    count = count + :n,
    first_step = coalesce(first_step, :first_step),
    last_step = :last_step,
    last_value = :last_value,
    last_wall = :last_wall,
    min_step = coalesce(min(min_step, :min_step), :min_step),
    max_step = coalesce(max(max_step, :max_step), :max_step),
    min = coalesce(min(min, :vmin), min, :vmin),
    max = coalesce(max(max, :vmax), max, :vmax),
    monotone = monotone AND :monotone AND (last_step IS NULL OR last_step <= :first_step)
WHERE id = :sid
RETURNING count
"""

_UPSERT_BLOCK = """
INSERT INTO point_blocks (series_id, level, block, n, n_valid, step_lo, step_hi, vmin, vmax, vsum)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (series_id, level, block) DO UPDATE SET
    n = n + excluded.n,
    n_valid = n_valid + excluded.n_valid,
    step_lo = min(step_lo, excluded.step_lo),
    step_hi = max(step_hi, excluded.step_hi),
    vmin = coalesce(min(vmin, excluded.vmin), vmin, excluded.vmin),
    vmax = coalesce(max(vmax, excluded.vmax), vmax, excluded.vmax),
    vsum = coalesce(vsum, 0) + coalesce(excluded.vsum, 0)
"""


def series_id(conn: sqlite3.Connection, run_id: str, kind: str, key: str) -> int:
    """Return the id of a run's series, creating it on first use."""
    conn.execute(
        "INSERT INTO series (run_id, kind, key) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (run_id, kind, key),
    )
    row = conn.execute(
        "SELECT id FROM series WHERE run_id = ? AND kind = ? AND key = ?", (run_id, kind, key)
    ).fetchone()
    return int(row[0])


def _reserve(
    conn: sqlite3.Connection,
    sid: int,
    step_arr: np.ndarray,
    last_wall: float,
    values: np.ndarray | None,
) -> int:
    """Update the series summary for n new points and return the seq of the first one."""
    n = len(step_arr)
    vmin = vmax = last_value = None
    if values is not None and n:
        finite_or_inf = values[~np.isnan(values)]
        if finite_or_inf.size:
            vmin, vmax = float(finite_or_inf.min()), float(finite_or_inf.max())
        last_value = float(values[-1])
    params = {
        "sid": sid,
        "n": n,
        "first_step": int(step_arr[0]),
        "last_step": int(step_arr[-1]),
        "last_value": last_value,
        "last_wall": float(last_wall),
        "min_step": int(step_arr.min()),
        "max_step": int(step_arr.max()),
        "vmin": vmin,
        "vmax": vmax,
        "monotone": int(bool(np.all(step_arr[1:] >= step_arr[:-1]))),
    }
    count = conn.execute(_UPDATE_SERIES, params).fetchone()[0]
    return int(count) - n


def append_scalars(
    conn: sqlite3.Connection, sid: int, steps: np.ndarray, walls: np.ndarray, values: np.ndarray
) -> None:
    """Append points to a scalar series: its summary, block aggregates and packed chunks."""
    seq0 = _reserve(conn, sid, steps, float(walls[-1]), values)
    conn.executemany(_UPSERT_BLOCK, _block_rows(sid, seq0, steps, values))
    write_chunks(conn, sid, seq0, steps, walls, values)


@dataclass
class Blocks:
    """Block aggregates of appended points: one element per block row, level by level."""

    level: np.ndarray  # int64
    block: np.ndarray  # int64
    n: np.ndarray  # int64
    n_valid: np.ndarray  # int64
    step_lo: np.ndarray  # int64
    step_hi: np.ndarray  # int64
    vmin: np.ndarray  # float64; NaN: no valid value
    vmax: np.ndarray
    vsum: np.ndarray
    continues: np.ndarray  # bool: the first block of a level, continuing one stored before


def block_columns(seq0: int, steps: np.ndarray, vals: np.ndarray) -> Blocks:
    """Aggregate points seq0.. per block at every level, with numpy."""
    n = len(steps)
    nan = np.isnan(vals)
    valid = (~nan).astype(np.int64)
    zeroed = np.where(nan, 0.0, vals)
    parts: list[tuple[np.ndarray, ...]] = []
    for level, size in BLOCK_SIZES.items():
        first_cut = (-seq0) % size  # offset of the first block boundary within the new points
        cuts = np.arange(first_cut, n, size)
        starts = cuts if first_cut == 0 else np.concatenate(([0], cuts))
        counts = np.diff(np.append(starts, n))
        n_valid = np.add.reduceat(valid, starts)
        # Huge finite values may sum past float64 (to +-inf, or NaN with +inf and -inf): that is
        # the float64 sum, stored as such; readers give such a block's mean from its points.
        with np.errstate(invalid="ignore", over="ignore"):
            sums = np.where(n_valid > 0, np.add.reduceat(zeroed, starts), np.nan)
        continues = np.zeros(len(starts), dtype=bool)
        continues[0] = seq0 % size != 0
        parts.append((np.full(len(starts), level, dtype=np.int64), (seq0 + starts) // size,
                      counts, n_valid, np.minimum.reduceat(steps, starts),
                      np.maximum.reduceat(steps, starts), np.fmin.reduceat(vals, starts),
                      np.fmax.reduceat(vals, starts), sums, continues))
    return Blocks(*(np.concatenate(column) for column in zip(*parts)))


def _block_rows(sid: int, seq0: int, steps: np.ndarray, vals: np.ndarray) -> list[tuple[Any, ...]]:
    """Aggregate new points per block at every level (the first block may continue an old one).

    NaN aggregates (a block of NaN points) bind as NULL, which the upsert treats as "no value".
    """
    if len(steps) <= SMALL_APPEND:
        return _block_rows_small(sid, seq0, steps.tolist(), vals.tolist())
    b = block_columns(seq0, steps, vals)
    return list(zip(repeat(sid), b.level.tolist(), b.block.tolist(), b.n.tolist(),
                    b.n_valid.tolist(), b.step_lo.tolist(), b.step_hi.tolist(), b.vmin.tolist(),
                    b.vmax.tolist(), b.vsum.tolist()))


def _block_rows_small(sid: int, seq0: int, steps: list[int], vals: list[float]) -> list[tuple[Any, ...]]:
    """``_block_rows`` for a few points, in plain Python: a slowly logged series appends one or
    two points per flush, where numpy's per-call cost was most of the flush."""
    nan = float("nan")
    rows: list[tuple[Any, ...]] = []
    for level, size in BLOCK_SIZES.items():
        a = 0
        while a < len(steps):
            block = (seq0 + a) // size
            b = min(len(steps), (block + 1) * size - seq0)
            valid = [v for v in vals[a:b] if v == v]
            total = nan
            if valid:
                total = valid[0]
                for v in valid[1:]:
                    total += v  # may overflow to +-inf or become NaN: see _block_rows
            part = steps[a:b]
            rows.append((sid, level, block, b - a, len(valid), min(part), max(part),
                         min(valid, default=nan), max(valid, default=nan), total))
            a = b
    return rows


def append_histograms(conn: sqlite3.Connection, sid: int, items: list[HistogramItem]) -> None:
    """Append histograms to a series."""
    seq0 = _reserve(conn, sid, np.array([h.step for h in items], dtype=np.int64), items[-1].wall,
                    None)
    conn.executemany(
        "INSERT INTO histograms (series_id, step, seq, wall, count, min, max, sum, sum_squares,"
        " edges, counts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                sid,
                item.step,
                seq0 + i,
                item.wall,
                h.count,
                h.min,
                h.max,
                h.sum,
                h.sum_squares,
                json.dumps([float(x) for x in h.edges]),
                json.dumps([float(x) for x in h.counts]),
            )
            for i, item in enumerate(items)
            for h in (item.histogram,)
        ],
    )


def append_texts(conn: sqlite3.Connection, sid: int, items: list[TextItem]) -> None:
    """Append texts to a series."""
    seq0 = _reserve(conn, sid, np.array([t.step for t in items], dtype=np.int64), items[-1].wall,
                    None)
    conn.executemany(
        "INSERT INTO texts (series_id, step, seq, wall, value) VALUES (?, ?, ?, ?, ?)",
        [(sid, t.step, seq0 + i, t.wall, t.text) for i, t in enumerate(items)],
    )
