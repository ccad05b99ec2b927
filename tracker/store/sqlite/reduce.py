"""Reading a scalar series reduced to N min/max buckets from the block summaries.

For a series whose steps never went backwards, blocks of 64 to 4,096 consecutive points
each carry their step range and min/max/sum. A reduction picks the coarsest level that still gives
at least two blocks per bucket, reads the blocks that lie inside the range, reads the few raw
points at the two edges, and bins both by step. A bucket's min/max is exact for the points it holds
up to the block that straddles its edge (which lands in one neighbour): invisible at one bucket per
pixel column, and spikes always survive. Series with steps that went backwards are read raw.
"""

from __future__ import annotations

import sqlite3

import numpy as np

from ...records import ReducedSeries
from .chunks import read_points, read_seqs, unpack_steps
from .series_writes import BLOCK_SIZES

# Below this many points per bucket a reduction reads the raw points (from their packed chunks):
# that is faster than reading block rows until there are 2 blocks of 64 points per bucket.
RAW_POINTS_PER_BUCKET = 128


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
    seqs = None
    if monotone:  # the seq of the first point in range and of the last one
        seqs = (0, count - 1) if start is None and end is None else _seq_range(conn, sid, lo, hi)
    level = None if seqs is None else _pick_level(seqs[1] - seqs[0] + 1, buckets)
    if seqs is None or level is None:
        steps, values, _ = read_points(conn, sid, lo, hi, walls=False)
        acc.add_points(steps, values)
        acc.resum_overflowed(steps, values)
    else:
        _add_from_blocks(conn, sid, level, lo, hi, seqs, acc)
        if acc.overflowed().any():  # rare: huge values; the blocks' sums cannot say their mean
            steps, values, _ = read_points(conn, sid, lo, hi, walls=False)
            acc.resum_overflowed(steps, values)
    return acc.result(key, lo, hi)


def _pick_level(n: int, buckets: int) -> int | None:
    """The coarsest block level with at least 2 blocks a bucket for n points (None: raw)."""
    if n < RAW_POINTS_PER_BUCKET * buckets:
        return None
    for level in sorted(BLOCK_SIZES, reverse=True):
        if n / BLOCK_SIZES[level] >= 2 * buckets:
            return level
    return min(BLOCK_SIZES)


def _seq_range(conn: sqlite3.Connection, sid: int, lo: int, hi: int) -> tuple[int, int]:
    """For a monotone series, the seq of the first point at or after lo and of the last at or
    before hi (first > last when none is in range), each from one chunk (their step ranges
    follow seq)."""
    first = conn.execute(
        "SELECT seq0, n, step_lo, step_hi, steps FROM point_chunks WHERE series_id = ?"
        " AND step_hi >= ? ORDER BY seq0 LIMIT 1",
        (sid, lo),
    ).fetchone()
    last = conn.execute(
        "SELECT seq0, n, step_lo, step_hi, steps FROM point_chunks WHERE series_id = ?"
        " AND step_lo <= ? ORDER BY seq0 DESC LIMIT 1",
        (sid, hi),
    ).fetchone()
    if first is None or last is None:
        return 0, -1
    first_seq = first[0] + int(np.searchsorted(_chunk_steps(first), lo, "left"))
    last_seq = last[0] + int(np.searchsorted(_chunk_steps(last), hi, "right")) - 1
    return first_seq, last_seq


def _chunk_steps(row: tuple) -> np.ndarray:
    _, n, step_lo, step_hi, blob = row
    return unpack_steps(blob, n, step_lo, step_hi)


def _add_from_blocks(
    conn: sqlite3.Connection,
    sid: int,
    level: int,
    lo: int,
    hi: int,
    seqs: tuple[int, int],
    acc: _Accumulator,
) -> None:
    size = BLOCK_SIZES[level]
    # The blocks that hold the points in range, by their numbers (seq // size): a primary-key
    # range, no index on steps (it took 0.3 B a point and read 2.5x slower).
    rows = conn.execute(
        "SELECT block, step_lo, step_hi, vmin, vmax, vsum, n_valid FROM point_blocks"
        " WHERE series_id = ? AND level = ? AND block >= ? AND block <= ? AND n = ?"
        " AND step_lo >= ? AND step_hi <= ? ORDER BY block",
        (sid, level, seqs[0] // size, seqs[1] // size, size, lo, hi),
    ).fetchall()
    # Blocks with n < size (the open last block) are read as raw points instead.
    if not rows:
        steps, values, _ = read_points(conn, sid, lo, hi, walls=False)
        acc.add_points(steps, values)
        return
    first_block, last_block = rows[0][0], rows[-1][0]
    if last_block - first_block + 1 != len(rows):  # not one run of blocks: read it all raw
        steps, values, _ = read_points(conn, sid, lo, hi, walls=False)
        acc.add_points(steps, values)
        return
    arr = np.array([r[1:] for r in rows], dtype=np.float64)
    acc.add_blocks(arr[:, 0], arr[:, 2], arr[:, 3], arr[:, 4], arr[:, 5])
    # The points outside those blocks: those of the block before (which straddles lo) and after
    # (which straddles hi, or is the open last block), by seq.
    seq_lo, seq_hi = first_block * size, (last_block + 1) * size
    for seq_a, seq_b, step_a, step_b in (
        (seq_lo - size, seq_lo, lo, rows[0][1]),
        (seq_hi, seq_hi + size, rows[-1][2], hi),
    ):
        steps, values, _ = read_seqs(conn, sid, seq_a, seq_b, walls=False)
        keep = (steps >= step_a) & (steps <= step_b)
        acc.add_points(steps[keep].astype(np.float64), values[keep])


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
