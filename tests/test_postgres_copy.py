"""The PostgreSQL write path (COPY of new rows, one statement per table for all of a batch's
series) stores what the SQLite store stores: the same points, summaries and block aggregates for
the same batches; and deleting a run or a series still removes its blocks (schema 2's trigger)."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import psycopg
import pytest

from tracker.store import open_backend
from tracker.store.backend import FinalStatus, NewRun, SeriesPoints, WriteBatch
from tracker.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION

_BLOCKS = ("SELECT s.key, b.level, b.block, b.n, b.n_valid, b.step_lo, b.step_hi, b.vmin, b.vmax,"
           " b.vsum FROM point_blocks b JOIN series s ON s.id = b.series_id"
           " ORDER BY s.key, b.level, b.block")
_CHUNKS = ("SELECT s.key, c.seq0, c.n FROM point_chunks c JOIN series s ON s.id = c.series_id"
           " ORDER BY s.key, c.seq0")


def _new(run_id: str) -> NewRun:
    return NewRun(id=run_id, project="p", name=run_id, group=None, config={}, tags=[], notes=None,
                  host="h", pid=1, rank=None, local_rank=None, world_size=None, started=1000.0)


def _batches(seed: int) -> list[WriteBatch]:
    """Flushes of very different sizes, several keys at once, keys that start late, NaN and inf
    stretches (blocks with no value, sums that overflow), steps that go back."""
    rng = np.random.default_rng(seed)
    sizes = [1, 3, 17, 100, 5000, 70_000, 2, 511, 4096, 1, 65_536, 300]
    seqs = {"a": 0, "b": 0, "c/late": 0}
    out = []
    for i, size in enumerate(sizes):
        points = []
        for key in ("a", "b", "c/late"):
            if key == "c/late" and i < 5:
                continue
            n = size if key != "b" else max(1, size // 3)
            steps = np.arange(seqs[key], seqs[key] + n, dtype=np.int64)
            if key == "b" and i == 7:
                steps = steps[::-1].copy()  # a step going back
            seqs[key] += n
            values = rng.normal(size=n)
            if key == "a" and n > 200:
                values[10:150] = np.nan  # whole 64-point blocks without a value
            if key == "c/late" and n > 10:
                values[:4] = [1e308, 1e308, math.inf, -math.inf]
            points.append(SeriesPoints(key, steps, 1.7e9 + steps * 1e-3, values))
        out.append(WriteBatch(points=points))
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_the_same_batches_store_the_same_on_both_backends(tmp_path, pg_url, seed) -> None:
    stores = {"sqlite": str(tmp_path / "t.db"), "postgres": pg_url}
    for where in stores.values():
        w = open_backend(where, mode="write")
        w.create_run(_new("r1"))
        for batch in _batches(seed):
            assert w.write("r1", batch, now=1.0) == []
        w.write("r1", WriteBatch(), final=FinalStatus("finished", 2000.0), now=2.0)
        w.close()
    reads = {name: open_backend(where, mode="read") for name, where in stores.items()}
    lite, pg = reads["sqlite"], reads["postgres"]
    for key in ("a", "b", "c/late"):
        s1, s2 = lite.series("r1", key, None, None), pg.series("r1", key, None, None)
        np.testing.assert_array_equal(s1.steps, s2.steps)
        np.testing.assert_array_equal(s1.values, s2.values)
        np.testing.assert_array_equal(s1.walls, s2.walls)
        assert len(s1.steps) > 1000
        for buckets, lo, hi in ((50, None, None), (1000, None, None), (7, 3000, 90_000)):
            r1, r2 = lite.reduced("r1", key, buckets, lo, hi), pg.reduced("r1", key, buckets, lo, hi)
            np.testing.assert_array_equal(r1.counts, r2.counts)
            np.testing.assert_array_equal(r1.mins, r2.mins)
            np.testing.assert_array_equal(r1.maxs, r2.maxs)
            np.testing.assert_allclose(r1.means, r2.means, rtol=1e-12, equal_nan=True)
    assert lite.keys("r1") == pg.keys("r1")
    for r in reads.values():
        r.close()
    # the stored aggregates themselves, row for row (NULL where a block has no value)
    with sqlite3.connect(stores["sqlite"]) as conn:
        lite_blocks = conn.execute(_BLOCKS).fetchall()
        lite_chunks = conn.execute(_CHUNKS).fetchall()
    with psycopg.connect(pg_url) as conn:
        pg_blocks = conn.execute(_BLOCKS).fetchall()
        pg_chunks = conn.execute(_CHUNKS).fetchall()
    assert len(lite_blocks) > 3000
    assert any(row[7] is None for row in lite_blocks)
    assert lite_chunks == pg_chunks
    assert len(lite_blocks) == len(pg_blocks)
    for a, b in zip(lite_blocks, pg_blocks):
        assert a[:7] == b[:7]
        for x, y in zip(a[7:], b[7:]):
            assert (x is None and y is None) or x == pytest.approx(y, rel=1e-12, nan_ok=True), (a, b)


def _block_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM point_blocks").fetchone()[0])


def _write_run(url: str, run_id: str, n: int = 10_000) -> None:
    w = open_backend(url, mode="write")
    w.create_run(_new(run_id))
    steps = np.arange(n, dtype=np.int64)
    w.write(run_id, WriteBatch(points=[SeriesPoints("x", steps, steps * 1.0, np.sin(steps))]),
            now=1.0)
    w.close()


def test_deleting_runs_or_series_removes_their_blocks(pg_url) -> None:
    _write_run(pg_url, "gone1")
    _write_run(pg_url, "kept1")
    both = _block_count(pg_url)
    w = open_backend(pg_url, mode="write", for_run=False)
    assert w.delete_runs(["gone1"]) == 1
    w.close()
    assert _block_count(pg_url) == both // 2
    with psycopg.connect(pg_url) as conn:  # a user's own DELETE in psql cascades too
        conn.execute("DELETE FROM series WHERE run_id = 'kept1'")
    assert _block_count(pg_url) == 0


def test_a_version_1_database_reads_as_it_is_and_migrates_on_the_first_write(pg_url) -> None:
    _write_run(pg_url, "old1")
    with psycopg.connect(pg_url) as conn:  # back to schema 1: the blocks' foreign key
        conn.execute("DROP TRIGGER series_blocks_deleted ON series")
        conn.execute("DROP FUNCTION tracker_delete_series_blocks()")
        conn.execute("ALTER TABLE point_blocks ADD CONSTRAINT point_blocks_series_id_fkey"
                     " FOREIGN KEY (series_id) REFERENCES series(id) ON DELETE CASCADE")
        conn.execute("UPDATE tracker_schema SET version = 1")
    assert SCHEMA_VERSION == 2 and 1 in MIGRATIONS
    r = open_backend(pg_url, mode="read")  # a reader (a SELECT-only role too) need not migrate
    assert len(r.series("old1", "x", None, None).steps) == 10_000
    r.close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM tracker_schema").fetchone()[0] == 1
    _write_run(pg_url, "new1")
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM tracker_schema").fetchone()[0] == 2
        fks = conn.execute("SELECT count(*) FROM pg_constraint WHERE conrelid ="
                           " 'point_blocks'::regclass AND contype = 'f'").fetchone()[0]
        assert fks == 0
        conn.execute("DELETE FROM runs")
    assert _block_count(pg_url) == 0
