"""Packed chunks, the one home of scalar points: growth of a small last chunk, reads by step and by
seq, and reductions, whatever the flushes looked like."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tracker
from tracker.store.sqlite import chunks, connect, series_writes, transaction
from tracker.store.sqlite.reduce import reduce_series
from tracker.store.sqlite.series_writes import SMALL_APPEND, append_scalars, series_id

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@settings(max_examples=200, deadline=None)
@given(steps=hnp.arrays(np.int64, st.integers(1, 40), elements=INT64))
@example(steps=np.array([-(2**63), 2**63 - 1]))  # evenly spaced, but the stride overflows
@example(steps=np.array([2**63 - 1, -(2**63), 2**63 - 1]))
@example(steps=np.array([7, 7, 7]))
@example(steps=np.array([0, 10, 20, 30]))
def test_steps_pack_exactly(steps):
    blob = chunks.pack_steps(steps)
    back = chunks.unpack_steps(blob, len(steps), int(steps.min()), int(steps.max()))
    assert back.dtype == np.int64 and back.tolist() == steps.tolist()


def test_evenly_spaced_steps_take_no_bytes():
    assert chunks.pack_steps(np.arange(0, 5000, 5)) == b""
    assert len(chunks.pack_steps(np.array([0, 5, 11]))) == 24


def _store(path: Path) -> tuple[sqlite3.Connection, int, int]:
    conn = connect(path, create=True)
    with transaction(conn):
        conn.execute(
            "INSERT INTO runs (id, project, name, status, started, heartbeat)"
            " VALUES ('r', 'p', 'n', 'running', 0, 0)"
        )
        return conn, series_id(conn, "r", "scalar", "many"), series_id(conn, "r", "scalar", "one")


def _append(conn: sqlite3.Connection, sid: int, steps, walls, values) -> None:
    with transaction(conn):
        append_scalars(conn, sid, np.asarray(steps, np.int64), np.asarray(walls, np.float64),
                       np.asarray(values, np.float64))


def _rows(conn: sqlite3.Connection, sid: int) -> list[int]:
    return [n for (n,) in conn.execute(
        "SELECT n FROM point_chunks WHERE series_id = ? ORDER BY seq0", (sid,))]


def test_a_series_logged_one_point_per_flush_gets_one_row_per_grow_cap_points(db_path):
    cap = chunks.GROW_CAP
    conn, sid, _ = _store(db_path)
    for i in range(2 * cap + 5):
        _append(conn, sid, [i], [1e9 + i], [i * 0.5])
    assert _rows(conn, sid) == [cap, cap, 5]
    steps, values, walls = chunks.read_points(conn, sid, None, None)
    assert steps.tolist() == list(range(2 * cap + 5))
    assert values.tolist() == [i * 0.5 for i in range(2 * cap + 5)]
    assert walls.tolist() == [1e9 + i for i in range(2 * cap + 5)]
    for count in (0, cap - 1, cap, 2 * cap + 4, 2 * cap + 5, 9999):
        tail = chunks.read_points_after(conn, sid, count)[0]
        assert tail.tolist() == list(range(count, 2 * cap + 5))
    conn.close()


def test_a_fast_flush_makes_full_chunks_and_never_rewrites_a_big_one(db_path):
    conn, sid, _ = _store(db_path)
    n = chunks.CHUNK_POINTS + 1000
    _append(conn, sid, np.arange(n), np.zeros(n), np.arange(n) * 1.0)
    _append(conn, sid, [n], [0.0], [1.0])  # the last chunk (1000 points) is past GROW_CAP
    assert _rows(conn, sid) == [chunks.CHUNK_POINTS, 1000, 1]
    conn.close()


def test_live_tail_sees_a_growing_chunk(db_path):
    with tracker.init("p", db=db_path) as run, tracker.open_store(db_path) as store:
        seen: list[int] = []
        for i in range(5):
            run.log({"x": float(i)}, step=i)
            run.flush()
            tail = store.points_after(run.id, "x", len(seen))
            seen += tail.steps.tolist()
        assert seen == [0, 1, 2, 3, 4]


batches = st.lists(
    st.lists(
        st.tuples(st.integers(-50, 400), st.floats(allow_nan=True, allow_infinity=True)),
        min_size=1, max_size=30,
    ),
    min_size=1, max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=batches, monotone=st.booleans(), buckets=st.integers(1, 6))
def test_any_flush_pattern_reads_back_as_one_flush(tmp_path_factory, batches, monotone, buckets):
    """Small caps (chunks of at most 8 points, growing up to 5) make every path happen: a chunk
    that grows, one that is split, one that is full; a series written in many flushes reads and
    reduces exactly like the same points written in one."""
    points = [p for batch in batches for p in batch]
    if monotone:
        order = sorted(range(len(points)), key=lambda i: points[i][0])
        points = [points[i] for i in order]
        it = iter(points)
        batches = [[next(it) for _ in b] for b in batches]
    path = tmp_path_factory.mktemp("chunks") / "c.db"
    with mock.patch.object(chunks, "CHUNK_POINTS", 8), mock.patch.object(chunks, "GROW_CAP", 5):
        conn, many, one = _store(path)
        wall = 0.0
        for batch in batches:
            steps, values = zip(*batch)
            walls = [wall + i for i in range(len(batch))]
            wall += len(batch)
            _append(conn, many, steps, walls, values)
        steps, values = (np.array(c) for c in zip(*points))
        _append(conn, one, steps, np.arange(len(points), dtype=np.float64), values)
        assert all(0 < n <= 8 for n in _rows(conn, many))
        for a, b in zip(chunks.read_points(conn, many, None, None),
                        chunks.read_points(conn, one, None, None)):
            assert a.tobytes() == b.tobytes()
        order = np.argsort(steps, kind="stable")
        assert chunks.read_points(conn, many, None, None)[0].tolist() == steps[order].tolist()
        for start, end in ((0, 100), (-10, 5), (200, 150), (None, 37)):
            for a, b in zip(chunks.read_points(conn, many, start, end),
                            chunks.read_points(conn, one, start, end)):
                assert a.tobytes() == b.tobytes()
        for count in range(len(points) + 2):
            got = chunks.read_points_after(conn, many, count)
            assert got[0].tolist() == steps[count:].tolist()
            assert got[1].tobytes() == values[count:].astype(np.float64).tobytes()
            assert got[2].tolist() == list(range(count, len(points)))
        for start, end in ((None, None), (10, 300), (0, 0)):
            a = reduce_series(conn, many, "k", buckets, start, end)
            b = reduce_series(conn, one, "k", buckets, start, end)
            for field in ("edges", "mins", "maxs", "counts"):
                assert getattr(a, field).tobytes() == getattr(b, field).tobytes(), field
            # block sums add in another order when the points came in other flushes
            np.testing.assert_allclose(a.means, b.means, rtol=1e-12)
        conn.close()


@settings(max_examples=200, deadline=None)
@given(seq0=st.integers(0, 5000), points=st.lists(
    st.tuples(INT64, st.floats(allow_nan=True, allow_infinity=True, width=32)), min_size=1,
    max_size=SMALL_APPEND))
def test_block_aggregates_of_a_small_append_match_numpys(seq0, points):
    steps = np.array([p[0] for p in points], dtype=np.int64)
    values = np.array([p[1] for p in points], dtype=np.float64)
    with mock.patch.object(series_writes, "SMALL_APPEND", -1):
        big = series_writes._block_rows(7, seq0, steps, values)
    small = series_writes._block_rows(7, seq0, steps, values)
    assert [r[:7] for r in small] == [r[:7] for r in big]
    np.testing.assert_allclose([r[7:] for r in small], [r[7:] for r in big], rtol=1e-12)
