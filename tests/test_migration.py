"""Schema version 1 -> 2: a store written by the version-1 tracker reads back identically."""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tracker
from tracker.errors import StoreError
from tracker.store.sqlite import SCHEMA_VERSION, connect, transaction, upgrade
from tracker.store.sqlite.series_writes import append_scalars

FIXTURE = Path(__file__).parent / "fixtures" / "v1_store"
_spec = importlib.util.spec_from_file_location("v1_store_make", FIXTURE / "make.py")
assert _spec is not None and _spec.loader is not None
make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make)


@pytest.fixture
def v1_store(tmp_path: Path) -> Path:
    """A copy of the store that the version-1 tracker wrote (tests/fixtures/v1_store/make.py)."""
    path = tmp_path / "v1.db"
    shutil.copyfile(FIXTURE / "store.db", path)
    return path


def expected() -> dict[str, Any]:
    with gzip.open(FIXTURE / "expected.json.gz", "rt") as f:
        return json.load(f)


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Equal item by item (as JSON text, so that NaN equals NaN), naming the first that differs."""
    assert sorted(got) == sorted(want)
    for run in want:
        assert sorted(got[run]) == sorted(want[run]), run
        for item in want[run]:
            assert json.dumps(got[run][item], sort_keys=True) == json.dumps(
                want[run][item], sort_keys=True), f"{run}: {item}"


def snapshot(path: Path) -> dict[str, Any]:
    return json.loads(json.dumps(make.snapshot(path)))


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    return names


def chunk_rows(path: Path, key: str) -> int:
    conn = sqlite3.connect(path)
    n = conn.execute(
        "SELECT count(*) FROM point_chunks c JOIN series s ON s.id = c.series_id"
        " WHERE s.key = ? AND s.run_id = (SELECT id FROM runs WHERE name = 'v1-run')", (key,)
    ).fetchone()[0]
    conn.close()
    return n


def test_the_fixture_is_a_version_1_store(v1_store):
    conn = sqlite3.connect(v1_store)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert {"points", "metrics", "point_chunks"} <= tables(v1_store)
    assert conn.execute("SELECT count(*) FROM points").fetchone()[0] == 3000 + 300 + 7 + 5
    conn.close()


def test_readers_ask_for_migrate_and_leave_the_file_alone(v1_store):
    before = v1_store.read_bytes()
    with pytest.raises(StoreError, match="tracker migrate"):
        tracker.open_store(v1_store)
    assert v1_store.read_bytes() == before


@pytest.mark.parametrize("how", ["tracker migrate", "a writer"])
def test_a_version_1_store_reads_back_identically(v1_store, how):
    size = v1_store.stat().st_size
    if how == "tracker migrate":
        assert upgrade(v1_store) == (1, SCHEMA_VERSION)
        assert v1_store.stat().st_size < size * 0.7  # points (35 B a point) went: the file shrank
    else:
        connect(v1_store).close()  # writers (tracker.init, import) migrate on open
    assert "points" not in tables(v1_store) and "metrics" not in tables(v1_store)
    assert_same(snapshot(v1_store), expected())
    # the slow series (one chunk row per flush in version 1) is repacked into one chunk
    assert (chunk_rows(v1_store, "acc"), chunk_rows(v1_store, "train/loss")) == (1, 1)


def test_a_series_whose_chunks_miss_points_is_rebuilt_from_points(v1_store):
    conn = sqlite3.connect(v1_store)
    for key, where in (("train/loss", "1 = 1"), ("acc", "seq0 % 7 = 3"), ("eval/loss", "seq0 > 0")):
        gone = conn.execute(
            f"DELETE FROM point_chunks WHERE {where} AND series_id = (SELECT s.id FROM series s"
            " JOIN runs r ON r.id = s.run_id WHERE s.key = ? AND r.name = 'v1-run')", (key,)
        ).rowcount
        assert gone > 0
    conn.commit()
    conn.close()
    upgrade(v1_store)
    assert_same(snapshot(v1_store), expected())


def test_points_deleted_in_the_sqlite3_shell_stay_deleted(v1_store):
    """In version 1 ``points`` was the source of truth (and writable from the sqlite3 shell)."""
    conn = sqlite3.connect(v1_store)
    conn.execute(
        "DELETE FROM points WHERE step = 20 AND series_id = (SELECT s.id FROM series s JOIN runs r"
        " ON r.id = s.run_id WHERE s.key = 'eval/loss' AND r.name = 'v1-run')"
    )
    conn.commit()
    conn.close()
    upgrade(v1_store)
    with tracker.open_store(v1_store) as store:
        run = store.run("v1-run")
        series = store.series(run.id, "eval/loss")
        key = next(k for k in store.keys(run.id) if k.key == "eval/loss")
        assert series.steps.tolist() == [5, 10, 15, 30, 30]
        np.testing.assert_array_equal(series.values, [0.75, 0.5, 2.0, -np.inf, 0.125])
        assert (key.count, key.min, key.max, key.last_value) == (5, -np.inf, 2.0, 2.0)
        tail = store.points_after(run.id, "eval/loss", 3)  # in logging order, renumbered from 0
        assert tail.steps.tolist() == [30, 15]


def test_migrated_series_take_new_points(v1_store):
    """Repacked (acc), kept as version 1 wrote it (train/loss: one big chunk), and a small last
    chunk that grows in place (eval/loss)."""
    upgrade(v1_store)
    conn = connect(v1_store)
    sids = dict(conn.execute(
        "SELECT s.key, s.id FROM series s JOIN runs r ON r.id = s.run_id WHERE r.name = 'v1-run'"
    ))
    for i in range(3):  # one point per flush, as a slow series logs
        with transaction(conn):
            for key in ("acc", "train/loss", "eval/loss"):
                append_scalars(conn, sids[key], np.array([5000 + i]), np.array([1.8e9]),
                               np.array([i / 2]))
    conn.close()
    with tracker.open_store(v1_store) as store:
        run = store.run("v1-run")
        for key in ("acc", "train/loss", "eval/loss"):
            want = expected()["v1-run"][f"series {key}"]
            series = store.series(run.id, key)
            assert series.steps.tolist() == want["steps"] + [5000, 5001, 5002]
            assert json.dumps(series.values.tolist()) == json.dumps(
                want["values"] + [0.0, 0.5, 1.0])
            count = len(want["steps"]) + 1
            assert store.points_after(run.id, key, count).steps.tolist() == [5001, 5002]
    # the repacked chunk of acc grows (300 points < GROW_CAP); train/loss's 3,000 do not
    assert (chunk_rows(v1_store, "acc"), chunk_rows(v1_store, "train/loss")) == (1, 2)
    assert chunk_rows(v1_store, "eval/loss") == 2
