"""The store file: WAL, schema version and migrations, bad files, storage failures during a run."""

from __future__ import annotations

import sqlite3

import pytest

import tracker
from tracker.errors import SchemaTooNewError, StoreError
from tracker.store import SCHEMA_VERSION, connect, connection, pool


def test_new_store_is_wal_with_the_current_schema(db_path):
    tracker.init("p", db=db_path).finish()
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "series", "points", "histograms", "texts", "graphs", "profiles"} <= tables
    # points are typed rows a user can query directly, through the metrics view too
    assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == 0


def test_metrics_view_answers_questions_in_sql(db_path):
    with tracker.init("p", "baseline", db=db_path) as run:
        for i in range(10):
            run.log({"loss": 10.0 - i})
    conn = sqlite3.connect(db_path)
    rows = conn.execute(
        "SELECT run, step, value FROM metrics WHERE key = 'loss' ORDER BY value LIMIT 2"
    ).fetchall()
    assert rows == [("baseline", 9, 1.0), ("baseline", 8, 2.0)]


def test_newer_schema_is_refused(db_path):
    tracker.init("p", db=db_path).finish()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNewError, match="upgrade"):
        tracker.open_store(db_path)
    with pytest.raises(SchemaTooNewError):
        tracker.init("p", db=db_path)


def test_writers_make_a_store_only_in_a_new_or_empty_file(tmp_path):
    sqlite3.connect(tmp_path / "empty.db").close()  # an empty file (0 bytes) is version 0
    tracker.open_store(tmp_path / "empty.db").close()  # a reader leaves it as it is
    assert (tmp_path / "empty.db").stat().st_size == 0
    blank = sqlite3.connect(tmp_path / "blank.db")  # an SQLite database with nothing in it
    blank.execute("PRAGMA journal_mode = WAL")
    blank.close()
    for name in ("empty.db", "blank.db", "new.db"):
        tracker.init("p", db=tmp_path / name).finish()
        conn = sqlite3.connect(tmp_path / name)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    foreign = sqlite3.connect(tmp_path / "foreign.db")
    foreign.execute("CREATE TABLE t (x)")
    foreign.close()
    before = (tmp_path / "foreign.db").read_bytes()
    for open_it in (lambda p: tracker.init("p", db=p), tracker.open_store, connect):
        with pytest.raises(StoreError, match="not a tracker store"):
            open_it(tmp_path / "foreign.db")
    assert (tmp_path / "foreign.db").read_bytes() == before


@pytest.mark.parametrize("content", [b"hello, not a database" * 100, b"SQLite format 3\x00" + b"\xff" * 200])
def test_non_sqlite_and_corrupt_files(db_path, content):
    db_path.write_bytes(content)
    with pytest.raises(StoreError, match="not a tracker store or is corrupt"):
        tracker.open_store(db_path)
    with pytest.raises(StoreError):
        tracker.init("p", db=db_path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(StoreError, match="no store"):
        tracker.open_store(tmp_path / "none.db")
    with pytest.raises(StoreError, match="directory"):
        tracker.open_store(tmp_path)
    nested = tmp_path / "a" / "b" / "runs.db"
    tracker.init("p", db=nested).finish()  # init creates the directories
    assert nested.exists()


def test_db_argument_env_var_and_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tracker.init("p").finish()
    assert (tmp_path / "tracker.db").exists()
    monkeypatch.setenv("TRACKER_DB", str(tmp_path / "env.db"))
    run = tracker.init("p")
    run.finish()
    assert run.db_path == tmp_path / "env.db"


@pytest.fixture
def short_busy_timeout(monkeypatch):
    monkeypatch.setattr(connection, "BUSY_TIMEOUT_S", 0.2)


def _hold_write_lock(db_path) -> sqlite3.Connection:
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_a_lock_held_too_long_warns_once_and_training_goes_on(db_path, short_busy_timeout, capfd):
    run = tracker.init("p", db=db_path)
    run.log({"a": 0.0})
    assert run.flush()
    blocker = _hold_write_lock(db_path)
    for i in range(1, 100):
        run.log({"a": float(i)})  # never raises
    assert not run.flush()
    run.log({"a": 100.0})
    assert not run.flush()
    err = capfd.readouterr().err
    assert err.count("tracker: cannot write") == 1 and "locked" in err
    blocker.execute("ROLLBACK")
    blocker.close()
    assert run.flush()  # the kept points are retried
    run.finish()
    with tracker.open_store(db_path) as store:
        assert store.series(run.id, "a").values.tolist() == [float(i) for i in range(101)]


def test_strict_mode_raises_storage_errors(db_path, short_busy_timeout):
    run = tracker.init("p", db=db_path, strict=True)
    blocker = _hold_write_lock(db_path)
    run.log({"a": 1.0})
    with pytest.raises(StoreError, match="locked"):
        run.flush()
    blocker.execute("ROLLBACK")
    blocker.close()
    run.finish()


def test_connect_translates_locked_files(db_path, short_busy_timeout):
    tracker.init("p", db=db_path).finish()
    pool.close_all()  # the finished run's idle connection would keep the file in WAL mode
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("BEGIN EXCLUSIVE")
    with pytest.raises(StoreError, match="locked"):
        connect(db_path)
    conn.execute("ROLLBACK")
