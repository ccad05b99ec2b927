"""Reading a scalar series reduced to N min/max buckets from the block summaries.

For a series whose steps never went backwards, blocks of 16 to 4,096 consecutive points
each carry their step range and min/max/sum. A reduction picks the coarsest level that still gives
at least two blocks per bucket, reads the blocks that lie inside the range, reads the few raw
points at the two edges, and bins both by step. A bucket's min/max is exact for the points it holds
up to the block that straddles its edge (which lands in one neighbour): invisible at one bucket per
pixel column, and spikes always survive. Series with steps that went backwards are read raw.
"""

from __future__ import annotations

import sqlite3

import numpy as np

from ..records import ReducedSeries
from .schema import BLOCK_SIZES
from .series_writes import CHUNK_POINTS

RAW_POINTS_PER_BUCKET = 16  # below this many points per bucket, reading raw points is cheap enough


def read_points(
    conn: sqlite3.Connection, sid: int, start: int | None, end: int | None, walls: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All points of a series in [start, end] as (steps, values, walls), in step order.

    Reads the packed chunks (one row per flush) rather than one row per point: 1M points in a few
    tens of milliseconds.
    """
    lo = -(2**63) if start is None else start
    hi = 2**63 - 1 if end is None else end
    rows = conn.execute(
        f"SELECT steps, vals{', walls' if walls else ''} FROM point_chunks"
        " WHERE series_id = ? AND step_hi >= ? AND step_lo <= ? ORDER BY seq0",
        (sid, lo, hi),
    ).fetchall()
    if not rows:
        return _no_points()
    steps, values = _unpack(rows, 0, "<i8"), _unpack(rows, 1, "<f8")
    wall = _unpack(rows, 2, "<f8") if walls else np.empty(0)
    if len(steps) > 1 and np.any(steps[1:] < steps[:-1]):
        order = np.argsort(steps, kind="stable")  # chunks are in seq order: ties keep it
        steps, values = steps[order], values[order]
        wall = wall[order] if walls else wall
    if start is not None or end is not None:
        keep = (steps >= lo) & (steps <= hi)
        if not keep.all():
            steps, values = steps[keep], values[keep]
            wall = wall[keep] if walls else wall
    return steps, values, wall


def read_points_after(
    conn: sqlite3.Connection, sid: int, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points with seq >= count (logged after the first ``count``), in logging order.

    Reads only the last chunks: an index seek on (series_id, seq0), not a scan of the series.
    """
    rows = conn.execute(
        "SELECT seq0, steps, vals, walls FROM point_chunks"
        " WHERE series_id = ? AND seq0 > ? AND seq0 + n > ? ORDER BY seq0",
        (sid, count - CHUNK_POINTS - 1, count),
    ).fetchall()
    if not rows:
        return _no_points()
    skip = max(0, count - rows[0][0])
    return tuple(_unpack(rows, col, dtype)[skip:] for col, dtype in ((1, "<i8"), (2, "<f8"), (3, "<f8")))


def _unpack(rows: list[tuple], column: int, dtype: str) -> np.ndarray:
    """Concatenate one packed column of chunk rows into a native-endian array."""
    return np.frombuffer(b"".join(r[column] for r in rows), dtype=dtype).astype(dtype[1:])


def _no_points() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.int64), np.empty(0), np.empty(0)


def reduce_series(
    conn: sqlite3.Connection,
    sid: int,
    key: str,
    buckets: int,
    start: int | None = None,
    end: int | None = None,
) -> ReducedSeries:
    """Reduce a series to ``buckets`` equal step-width buckets over [start, end]."""
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, not {buckets}")
    row = conn.execute(
        "SELECT min_step, max_step, count, monotone FROM series WHERE id = ?", (sid,)
    ).fetchone()
    min_step, max_step, count, monotone = row if row else (None, None, 0, 1)
    if not count or min_step is None:
        return _empty(key, buckets, start or 0, end or 0)
    lo = min_step if start is None else max(start, min_step)
    hi = max_step if end is None else min(end, max_step)
    if lo > hi:
        return _empty(key, buckets, lo, hi)
    edges = np.linspace(lo, hi + 1, buckets + 1)  # bucket i holds steps in [edges[i], edges[i+1])
    acc = _Accumulator(buckets, edges)
    level = _pick_level(conn, sid, lo, hi, count, buckets, bool(monotone), start is None and end is None)
    if level is None:
        steps, values, _ = read_points(conn, sid, lo, hi, walls=False)
        acc.add_points(steps, values)
        acc.resum_overflowed(steps, values)
    else:
        _add_from_blocks(conn, sid, level, lo, hi, acc)
        if acc.overflowed().any():  # rare: huge values; the blocks' sums cannot say their mean
            steps, values, _ = read_points(conn, sid, lo, hi, walls=False)
            acc.resum_overflowed(steps, values)
    return acc.result(key, lo, hi)


def _pick_level(
    conn: sqlite3.Connection,
    sid: int,
    lo: int,
    hi: int,
    count: int,
    buckets: int,
    monotone: bool,
    whole: bool,
) -> int | None:
    if not monotone:
        return None
    n = count if whole else _count_between(conn, sid, lo, hi)
    if n < RAW_POINTS_PER_BUCKET * buckets:
        return None
    for level in range(len(BLOCK_SIZES) - 1, -1, -1):
        if n / BLOCK_SIZES[level] >= 2 * buckets:
            return level
    return 0


def _count_between(conn: sqlite3.Connection, sid: int, lo: int, hi: int) -> int:
    """Points with step in [lo, hi] of a monotone series, from the seq at both ends (two seeks)."""
    first = conn.execute(
        "SELECT seq FROM points WHERE series_id = ? AND step >= ? ORDER BY step, seq LIMIT 1",
        (sid, lo),
    ).fetchone()
    last = conn.execute(
        "SELECT seq FROM points WHERE series_id = ? AND step <= ? ORDER BY step DESC, seq DESC"
        " LIMIT 1",
        (sid, hi),
    ).fetchone()
    if first is None or last is None:
        return 0
    return max(0, last[0] - first[0] + 1)


def _add_from_blocks(
    conn: sqlite3.Connection, sid: int, level: int, lo: int, hi: int, acc: _Accumulator
) -> None:
    size = BLOCK_SIZES[level]
    rows = conn.execute(
        "SELECT block, step_lo, step_hi, vmin, vmax, vsum, n_valid, n FROM point_blocks"
        " WHERE series_id = ? AND level = ? AND step_lo >= ? AND step_lo <= ? AND step_hi <= ?"
        " ORDER BY step_lo, block",
        (sid, level, lo, hi, hi),
    ).fetchall()
    # Blocks with n < size are the open last block or partial: read those points raw instead.
    full = [r for r in rows if r[7] == size]
    if not full:
        steps, values, _ = read_points(conn, sid, lo, hi, walls=False)
        acc.add_points(steps, values)
        return
    blocks = np.array([r[0] for r in full], dtype=np.int64)
    # Keep the longest run of consecutive block numbers; everything outside it is read raw.
    first_block, last_block = int(blocks.min()), int(blocks.max())
    if last_block - first_block + 1 != len(blocks):
        steps, values, _ = read_points(conn, sid, lo, hi, walls=False)
        acc.add_points(steps, values)
        return
    arr = np.array([r[1:7] for r in full], dtype=np.float64)
    acc.add_blocks(arr[:, 0], arr[:, 2], arr[:, 3], arr[:, 4], arr[:, 5])
    seq_lo, seq_hi = first_block * size, (last_block + 1) * size
    for where, args in (
        ("step >= ? AND step <= ? AND seq < ?", (lo, int(arr[0, 0]), seq_lo)),
        ("step >= ? AND step <= ? AND seq >= ?", (int(arr[-1, 1]), hi, seq_hi)),
    ):
        edge = conn.execute(
            f"SELECT step, value FROM points WHERE series_id = ? AND {where}", (sid, *args)
        ).fetchall()
        if edge:
            e = np.array(edge, dtype=np.float64)
            acc.add_points(e[:, 0], e[:, 1])


class _Accumulator:
    """Per-bucket min, max, sum and counts, fed by raw points and by block aggregates."""

    def __init__(self, buckets: int, edges: np.ndarray) -> None:
        self.edges = edges
        self.mins = np.full(buckets, np.inf)
        self.maxs = np.full(buckets, -np.inf)
        self.sums = np.zeros(buckets)
        self.valid = np.zeros(buckets, dtype=np.int64)  # non-NaN points per bucket
        self.exact_means: np.ndarray | None = None  # NaN, or a mean resummed from raw points

    def _bucket(self, steps: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.edges, steps, side="right") - 1
        return np.clip(idx, 0, len(self.mins) - 1)

    def add_points(self, steps: np.ndarray, values: np.ndarray) -> None:
        if len(steps) == 0:
            return
        idx = self._bucket(np.asarray(steps, dtype=np.float64))
        ok = ~np.isnan(values)
        idx, vals = idx[ok], values[ok]
        np.fmin.at(self.mins, idx, vals)
        np.fmax.at(self.maxs, idx, vals)
        np.add.at(self.valid, idx, 1)
        finite = np.isfinite(vals)
        with np.errstate(over="ignore"):  # an overflowed sum is resummed (resum_overflowed)
            np.add.at(self.sums, idx[finite], vals[finite])

    def add_blocks(
        self,
        step_lo: np.ndarray,
        vmin: np.ndarray,
        vmax: np.ndarray,
        vsum: np.ndarray,
        n_valid: np.ndarray,
    ) -> None:
        idx = self._bucket(step_lo)
        ok = n_valid > 0
        np.fmin.at(self.mins, idx[ok], vmin[ok])
        np.fmax.at(self.maxs, idx[ok], vmax[ok])
        np.add.at(self.valid, idx[ok], n_valid[ok].astype(np.int64))
        sums = vsum[ok]
        with np.errstate(over="ignore", invalid="ignore"):  # +-inf sums: see resum_overflowed
            np.add.at(self.sums, idx[ok], np.where(np.isnan(sums), 0.0, sums))

    def overflowed(self) -> np.ndarray:
        """Buckets of finite values whose float64 sum overflowed (their mean is not sum / n)."""
        return ((self.valid > 0) & np.isfinite(self.mins) & np.isfinite(self.maxs)
                & ~np.isfinite(self.sums))

    def resum_overflowed(self, steps: np.ndarray, values: np.ndarray) -> None:
        """The means of overflowed buckets from their raw points, summed in extended precision
        (np.longdouble: its exponent range holds any sum of float64 values on x86-64 and
        aarch64 Linux; where it is plain float64, ``result`` still keeps means in [min, max])."""
        bad = self.overflowed()
        if not bad.any() or len(steps) == 0:
            return
        idx = self._bucket(np.asarray(steps, dtype=np.float64))
        keep = bad[idx] & ~np.isnan(values)
        sums = np.zeros(len(bad), dtype=np.longdouble)
        counts = np.zeros(len(bad), dtype=np.int64)
        with np.errstate(over="ignore", invalid="ignore"):
            np.add.at(sums, idx[keep], values[keep].astype(np.longdouble))
            np.add.at(counts, idx[keep], 1)
            means = (sums / np.maximum(counts, 1)).astype(np.float64)
        self.exact_means = np.where(counts > 0, means, np.nan)

    def result(self, key: str, lo: int, hi: int) -> ReducedSeries:
        empty = self.valid == 0
        mins = np.where(empty, np.nan, self.mins)
        maxs = np.where(empty, np.nan, self.maxs)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(empty, np.nan, self.sums / np.maximum(self.valid, 1))
            if self.exact_means is not None:
                means = np.where(np.isnan(self.exact_means), means, self.exact_means)
            # a mean lies within its bucket's min and max, whatever precision its sum had
            means = np.minimum(np.maximum(means, mins), maxs)
        return ReducedSeries(key, lo, hi, self.edges, mins, maxs, means, self.valid.copy())


def _empty(key: str, buckets: int, lo: int, hi: int) -> ReducedSeries:
    nan = np.full(buckets, np.nan)
    return ReducedSeries(
        key, lo, hi, np.linspace(lo, hi + 1, buckets + 1), nan, nan.copy(), nan.copy(),
        np.zeros(buckets, dtype=np.int64),
    )
