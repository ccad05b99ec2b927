"""The one home of a scalar series' points: ``point_chunks`` rows of consecutive points, how they
are packed, appended (a small last chunk grows) and read back by step range or by seq.

A chunk holds points seq0 .. seq0 + n - 1 of one series as three little-endian arrays: int64
steps, float64 walls and float64 values (exact; NaN and +-inf kept). Steps that are evenly
spaced from ``step_lo`` to ``step_hi`` in logging order (the common case: every step, or every
k-th) are not stored: their blob is empty and they are computed back from (n, step_lo, step_hi).
"""

from __future__ import annotations

import sqlite3

import numpy as np

CHUNK_POINTS = 65_536  # points in one chunk at most: a fast series' flush makes a few full ones
# A chunk with fewer points takes the next flush's points (its row is rewritten with them
# appended), so a series logged one point per flush gets one row per GROW_CAP points, not per
# point; a flush rewrites at most GROW_CAP points of an old chunk.
GROW_CAP = 512

_INT64_MAX = 2**63 - 1


def pack_steps(steps: np.ndarray) -> bytes:
    """The steps blob: empty when the steps are evenly spaced and non-decreasing."""
    n = len(steps)
    if n == 1:
        return b""
    if n > 1:
        lo, hi = int(steps[0]), int(steps[-1])
        if hi >= lo and hi - lo <= _INT64_MAX and (hi - lo) % (n - 1) == 0:
            stride = (hi - lo) // (n - 1)
            if np.all(np.diff(steps) == stride):
                return b""
    return steps.astype("<i8").tobytes()


def unpack_steps(blob: bytes, n: int, step_lo: int, step_hi: int) -> np.ndarray:
    """A chunk's steps as native int64."""
    if blob:
        return np.frombuffer(blob, dtype="<i8").astype(np.int64)
    if n <= 1:
        return np.full(n, step_lo, dtype=np.int64)
    stride = (step_hi - step_lo) // (n - 1)
    return np.arange(n, dtype=np.int64) * stride + step_lo


def unpack_floats(blob: bytes) -> np.ndarray:
    """A chunk's walls or values as native float64."""
    return np.frombuffer(blob, dtype="<f8").astype(np.float64)


def pack_floats(values: np.ndarray) -> bytes:
    return values.astype("<f8").tobytes()


# The last chunk's blobs are read only when it will take new points (SQLite loads them lazily).
_LAST_CHUNK = (
    "SELECT rowid, seq0, n, step_lo, step_hi, CASE WHEN n < :cap THEN steps END,"
    " CASE WHEN n < :cap THEN walls END, CASE WHEN n < :cap THEN vals END"
    " FROM point_chunks WHERE series_id = :sid ORDER BY seq0 DESC LIMIT 1"
)
_INSERT_CHUNK = (
    "INSERT INTO point_chunks (rowid, series_id, seq0, n, step_lo, step_hi, steps, walls, vals)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_REWRITE_CHUNK = (
    "UPDATE point_chunks SET n = ?, step_lo = ?, step_hi = ?, steps = ?, walls = ?, vals = ?"
    " WHERE rowid = ?"
)
# A series' chunks get rowids from series_id << 32 up, so they lie together in the table's pages.
# While a chunk grows, its row is kept whole in a leaf page; with the rows of all slowly logged
# series interleaved (rowids in order of creation), those pages stayed nearly empty once the rows
# had grown into overflow pages (measured with 100 slow series: 5 B a point more).
_ROWIDS_PER_SERIES = 1 << 32


def write_chunks(
    conn: sqlite3.Connection,
    sid: int,
    seq0: int,
    steps: np.ndarray,
    walls: np.ndarray,
    values: np.ndarray,
) -> None:
    """Store points seq0.. of a series: the series' last chunk takes them while it is smaller than
    GROW_CAP, new chunks of at most CHUNK_POINTS take the rest."""
    steps = np.asarray(steps, dtype=np.int64)
    walls = np.asarray(walls, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    taken = 0
    last = conn.execute(_LAST_CHUNK, {"sid": sid, "cap": GROW_CAP}).fetchone() if seq0 else None
    if last is not None and last[2] < GROW_CAP and last[1] + last[2] == seq0:
        rowid, _, n, step_lo, step_hi, old_steps, old_walls, old_vals = last
        taken = min(GROW_CAP - n, len(steps))
        joined = np.concatenate((unpack_steps(old_steps, n, step_lo, step_hi), steps[:taken]))
        conn.execute(
            _REWRITE_CHUNK,
            (
                n + taken,
                int(joined.min()),
                int(joined.max()),
                pack_steps(joined),
                old_walls + pack_floats(walls[:taken]),
                old_vals + pack_floats(values[:taken]),
                rowid,
            ),
        )
    first_rowid = sid * _ROWIDS_PER_SERIES
    if last is not None and last[0] >= first_rowid:  # (a version-1 store's rows lie below)
        first_rowid = last[0] + 1
    conn.executemany(
        _INSERT_CHUNK,
        [
            (
                first_rowid + i,
                sid,
                seq0 + a,
                len(part),
                int(part.min()),
                int(part.max()),
                pack_steps(part),
                pack_floats(walls[a : a + CHUNK_POINTS]),
                pack_floats(values[a : a + CHUNK_POINTS]),
            )
            for i, a in enumerate(range(taken, len(steps), CHUNK_POINTS))
            for part in (steps[a : a + CHUNK_POINTS],)
        ],
    )


def read_points(
    conn: sqlite3.Connection, sid: int, start: int | None, end: int | None, walls: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All points of a series in [start, end] as (steps, values, walls), in step order.

    Reads the packed chunks: 1M points in a few tens of milliseconds.
    """
    lo = -(2**63) if start is None else start
    hi = 2**63 - 1 if end is None else end
    rows = conn.execute(
        f"SELECT n, step_lo, step_hi, steps, vals{', walls' if walls else ''} FROM point_chunks"
        " WHERE series_id = ? AND step_hi >= ? AND step_lo <= ? ORDER BY seq0",
        (sid, lo, hi),
    ).fetchall()
    if not rows:
        return _no_points()
    steps, values = _steps(rows), _floats(rows, 4)
    wall = _floats(rows, 5) if walls else np.empty(0)
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
    """Points with seq >= count (logged after the first ``count``), in logging order."""
    return read_seqs(conn, sid, count, None)


def read_seqs(
    conn: sqlite3.Connection, sid: int, first: int, stop: int | None, walls: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points with first <= seq < stop (no upper bound when None) as (steps, values, walls), in
    logging order. An index seek on (series_id, seq0), not a scan of the series: a chunk holds at
    most CHUNK_POINTS points, so the first one needed starts after first - CHUNK_POINTS."""
    first = max(first, 0)
    rows = conn.execute(
        f"SELECT n, step_lo, step_hi, steps, vals{', walls' if walls else ''}, seq0"
        " FROM point_chunks WHERE series_id = ? AND seq0 > ? AND seq0 < ? AND seq0 + n > ?"
        " ORDER BY seq0",
        (sid, first - CHUNK_POINTS - 1, 2**63 - 1 if stop is None else stop, first),
    ).fetchall()
    if not rows:
        return _no_points()
    seq0 = rows[0][-1]
    steps, values = _steps(rows), _floats(rows, 4)
    wall = _floats(rows, 5) if walls else np.empty(0)
    a = max(0, first - seq0)
    b = len(steps) if stop is None else max(a, min(len(steps), stop - seq0))
    return steps[a:b], values[a:b], wall[a:b] if walls else wall


def _steps(rows: list[tuple]) -> np.ndarray:
    """The steps of chunk rows (n, step_lo, step_hi, steps, ...) in row order."""
    if len(rows) == 1:
        return unpack_steps(rows[0][3], rows[0][0], rows[0][1], rows[0][2])
    return np.concatenate([unpack_steps(r[3], r[0], r[1], r[2]) for r in rows])


def _floats(rows: list[tuple], column: int) -> np.ndarray:
    """One float64 column of chunk rows, concatenated, as a native-endian array."""
    return unpack_floats(b"".join(r[column] for r in rows))


def _no_points() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.int64), np.empty(0), np.empty(0)
