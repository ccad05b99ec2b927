"""The store file: WAL, schema version and migrations, bad files, storage failures during a run."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

import tracker
from tracker.errors import SchemaTooNewError, StoreError
from tracker.store.sqlite import SCHEMA_VERSION, connect, connection, pool


def test_new_store_is_wal_with_the_current_schema(db_path):
    tracker.init("p", db=db_path).finish()
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "series", "point_chunks", "point_blocks", "histograms", "texts", "graphs",
            "profiles"} <= tables
    # points live packed in point_chunks only (tracker sql reads them as rows: test_sql.py)
    assert "points" not in tables
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'view'").fetchone()[0] == 0


def test_runs_and_series_answer_questions_in_the_sqlite3_shell(db_path):
    with tracker.init("p", "baseline", db=db_path) as run:
        for i in range(10):
            run.log({"loss": 10.0 - i})
    conn = sqlite3.connect(db_path)
    rows = conn.execute(
        "SELECT r.name, s.count, s.last_step, s.last_value, s.min FROM series s"
        " JOIN runs r ON r.id = s.run_id WHERE s.key = 'loss'"
    ).fetchall()
    assert rows == [("baseline", 10, 9, 1.0, 1.0)]


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


# -- readers never write; what each user may do ----------------------------------------------------
def test_reading_a_wal_store_whose_wal_files_are_gone_changes_nothing(db_path):
    with tracker.init("p", "done", db=db_path) as run:
        run.log({"loss": 1.0})
    pool.close_all()  # the last connection checkpoints and removes -wal and -shm
    assert not db_path.with_name("tracker.db-wal").exists()
    before = db_path.read_bytes()
    with tracker.open_store(db_path) as store:
        assert [r.name for r in store.runs()] == ["done"]
        assert store.series(run.id, "loss").values.tolist() == [1.0]
    assert db_path.read_bytes() == before
    tracker.init("p", "next", db=db_path).finish()  # a writer afterwards is unaffected
    with tracker.open_store(db_path) as store:
        assert sorted(r.name for r in store.runs()) == ["done", "next"]


def test_a_reader_sees_a_live_run_as_of_its_last_flush(any_store):
    db_path = any_store  # on both backends
    run = tracker.init("p", "live", db=db_path)
    run.log({"loss": 2.0})
    assert run.flush()
    with tracker.open_store(db_path) as store:
        (info,) = store.runs()
        assert (info.status, info.last) == ("running", {"loss": 2.0})
        run.log({"loss": 1.0})
        assert run.flush()  # the reader's connection stays open while the writer commits
        assert store.runs()[0].last == {"loss": 1.0}
        store.rename_run(run.id, "renamed")  # an edit opens its own write connection
    run.log({"loss": 0.5})
    run.finish()
    with tracker.open_store(db_path) as store:
        (info,) = store.runs()
        assert (info.name, info.status, info.last) == ("renamed", "finished", {"loss": 0.5})


@pytest.fixture
def shared_dir():
    """A folder under /tmp that the unprivileged user of ``as_other_user`` can reach."""
    path = Path(tempfile.mkdtemp(prefix="tracker-perm-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    for sub in path.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(path)


AS_NOBODY = """
import os, pwd, sys
import tracker, tracker.run.run, tracker.run.null_run
from click.testing import CliRunner
from tracker.cli import main

def cli(*args):
    out = CliRunner().invoke(main, list(args))
    return f"exit {out.exit_code}: {out.output.strip()}"

def names(path):
    with tracker.open_store(path) as store:
        return sorted(r.name for r in store.runs())

# everything the checks use is imported and run once first: the interpreter's own files may be
# unreadable to the user this process becomes (root's home holds them)
warm = sys.argv[1]
tracker.init("p", db=warm).finish()
cli("ls", "--db", warm)
names(warm)
if os.geteuid() == 0:  # root ignores permission bits: become nobody
    nobody = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)
try:
    result = f"ok: {eval(sys.argv[2])}"
except BaseException as exc:
    result = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
print(result)
"""


@pytest.fixture
def as_other_user(tmp_path) -> Callable[[str], str]:
    """Evaluate an expression (with ``tracker``, ``cli(*args)`` and ``names(path)`` at hand) in a
    fresh process that has dropped root's rights (permission bits do not bite root); return what
    it gave or raised, as text. A subprocess, not a fork of this multithreaded one."""

    def run(expression: str) -> str:
        out = subprocess.run([sys.executable, "-c", AS_NOBODY, str(tmp_path / "warm.db"),
                              expression], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    return run


def test_a_store_the_user_cannot_write_is_one_line(shared_dir, as_other_user):
    store = shared_dir / "theirs.db"
    tracker.init("p", "theirs", db=store).finish()
    pool.close_all()
    store.chmod(0o644)
    shared_dir.chmod(0o777)  # the user could make a -wal here, but may not write the store
    result = as_other_user(f"tracker.init('p', db={str(store)!r})")
    assert result.startswith("tracker.errors.StoreError: ") and "read-only" in result, result
    assert str(store) in result
    assert as_other_user(f"names({str(store)!r})") == "ok: ['theirs']"  # reading is allowed
    shared_dir.chmod(0o555)  # a folder the user cannot write: no -wal can be made there either
    assert as_other_user(f"names({str(store)!r})") == "ok: ['theirs']"
    shared_dir.chmod(0o755)
    result = as_other_user(f"tracker.init('p', db={str(shared_dir / 'sub' / 'new.db')!r})")
    assert result.startswith("tracker.errors.StoreError: ") and "permission" in result, result


def test_a_folder_the_user_cannot_enter_is_one_line(shared_dir, as_other_user):
    locked = shared_dir / "locked"
    locked.mkdir(mode=0o700)
    store = locked / "runs.db"
    tracker.init("p", db=store).finish()
    pool.close_all()
    for expression in (f"tracker.init('p', db={str(store)!r})",
                       f"tracker.open_store({str(store)!r})"):
        result = as_other_user(expression)
        assert result.startswith("tracker.errors.StoreError: "), result
        assert f"may not enter the folder {locked}" in result
    result = as_other_user(f"cli('ls', '--db', {str(store)!r})")
    assert result.startswith("ok: exit 2: tracker: cannot reach"), result
    assert len(result.splitlines()) == 1


def test_a_store_in_a_read_only_folder_reads_with_and_without_a_live_writer(
    shared_dir, as_other_user
):
    folder = shared_dir / "ro"
    folder.mkdir(mode=0o755)
    store = folder / "runs.db"
    with tracker.init("p", "first", db=store) as run:
        run.log({"loss": 1.0})
    pool.close_all()
    before = store.read_bytes()
    assert not Path(f"{store}-wal").exists()
    assert as_other_user(f"names({str(store)!r})") == "ok: ['first']"
    assert "first" in as_other_user(f"cli('ls', '--db', {str(store)!r})")
    assert store.read_bytes() == before and sorted(os.listdir(folder)) == ["runs.db"]
    live = tracker.init("p", "live", db=store)  # the owner trains while the other user reads
    live.log({"loss": 3.0})
    assert live.flush()
    assert as_other_user(f"names({str(store)!r})") == "ok: ['first', 'live']"
    live.finish()
