"""A server store that is not there: unreachable at init (the run starts on the local spool, one
warning; strict raises), stopped mid-run and restarted (nothing lost, nothing doubled), down at
finish (the rest waits in spill files that `tracker sync` pushes). Against the suite's real
server, stopped and restarted."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.errors import StoreError
from tracker.run import spill, writer
from tracker.run.spool import spool_path
from tracker.sync import sync
from tracker.urls import ServerURL

NOWHERE = "postgresql://alice:s3cret-pw@127.0.0.1:1/experiments?connect_timeout=3"


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """$TRACKER_HOME in the test's folder (spools and a server store's spill files go there)."""
    folder = tmp_path / "home"
    monkeypatch.setenv("TRACKER_HOME", str(folder))
    return folder


@pytest.fixture
def server(pg_server: Any) -> Iterator[Any]:
    """The session's server, running again after the test whatever the test did to it."""
    yield pg_server
    if not pg_server.running:
        pg_server.restart()


def _points(location: Any, run_id: str, key: str = "x") -> tuple[list[int], list[float], str]:
    with tracker.open_store(location) as store:
        s = store.series(run_id, key)
        return s.steps.tolist(), s.values.tolist(), store.run(run_id).status


def test_unreachable_at_init_starts_on_the_local_spool_and_syncs_later(
        home: Path, pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tracker"):
        run = tracker.init(project="p", db=NOWHERE)
        for step in range(10):
            run.log({"x": float(step)})
        run.finish()
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1, said
    assert "local spool" in said[0] and "tracker sync" in said[0]
    assert "s3cret" not in said[0] and "\n" not in said[0]
    spool = spool_path(ServerURL(NOWHERE))
    assert run.db_path == spool and spool.parent == home and "s3cret" not in str(spool)
    assert _points(spool, run.id) == (list(range(10)), [float(s) for s in range(10)], "finished")
    copied = sync(spool, pg_url)
    assert copied.points == 10
    assert _points(pg_url, run.id) == _points(spool, run.id)


def test_strict_raises_when_the_server_is_unreachable_at_init(home: Path) -> None:
    with pytest.raises(StoreError) as err:
        tracker.init(project="p", db=NOWHERE, strict=True)
    assert "s3cret" not in str(err.value) and "\n" not in str(err.value)
    assert not home.exists()  # no spool made


def test_resume_needs_the_server_and_a_wrong_database_is_no_network_fault(
        home: Path, pg_server: Any) -> None:
    with pytest.raises(StoreError):
        tracker.init(project="p", db=NOWHERE, resume="abc12345")
    with pytest.raises(StoreError, match="does not exist"):  # the server said no: not spooled
        tracker.init(project="p", db=pg_server.url("no_such_database"))
    assert not home.exists()


def test_server_stopped_mid_run_and_restarted_loses_and_doubles_nothing(
        home: Path, server: Any, pg_url: str, capfd: pytest.CaptureFixture[str]) -> None:
    run = tracker.init(project="p", db=pg_url)
    for step in range(100):
        run.log({"x": float(step)}, step=step)
    assert run.flush()
    server.stop()
    for step in range(100, 200):
        run.log({"x": float(step)}, step=step)
    assert not run.flush()  # the server is down: the points wait
    assert not run.flush()
    server.restart()
    for step in range(200, 300):
        run.log({"x": float(step)}, step=step)
    run.log_text("note", "after the outage", step=299)
    run.finish()
    assert _points(pg_url, run.id) == (list(range(300)), [float(s) for s in range(300)],
                                       "finished")
    err = capfd.readouterr().err
    assert err.count("cannot write to the store") == 1  # one warning, not one per flush
    assert str(spill.folder(ServerURL(pg_url))) in err  # where spill files would go


def test_down_at_finish_leaves_spill_files_that_sync_pushes(
        home: Path, server: Any, pg_url: str, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(writer, "FINISH_WAIT_S", 0.3)
    run = tracker.init(project="p", db=pg_url)
    for step in range(50):
        run.log({"x": float(step)}, step=step)
    assert run.flush()
    server.stop()
    for step in range(50, 80):
        run.log({"x": float(step)}, step=step)
    run.finish()  # tries for FINISH_WAIT_S, then leaves the rest in spill files
    err = capfd.readouterr().err
    folder = spill.folder(ServerURL(pg_url))
    assert f"tracker sync {folder} " in err and "30 points" in err
    assert spill.pending(ServerURL(pg_url))
    server.restart()
    assert _points(pg_url, run.id)[0] == list(range(50))
    cli = [sys.executable, "-m", "tracker.cli", "sync", str(folder), pg_url]
    out = subprocess.run(cli, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("synced 0 runs (0 new): 30 points")
    assert _points(pg_url, run.id) == (list(range(80)), [float(s) for s in range(80)],
                                       "finished")
    again = subprocess.run(cli, capture_output=True, text=True)
    assert again.returncode == 0 and "0 points" in again.stdout
    assert _points(pg_url, run.id)[0] == list(range(80))


class _CommitReplyLost:
    """A connection whose next COMMIT goes through on the server but whose reply never comes
    back (the connection drops right after): the outcome the client sees is unknown."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        import psycopg

        with self._conn.transaction() as tx:
            yield tx
        self._conn.close()
        raise psycopg.OperationalError("consuming input failed: server closed the connection "
                                       "unexpectedly")


def test_a_commit_whose_reply_was_lost_is_not_written_twice(pg_url: str) -> None:
    run = tracker.init(project="p", db=pg_url)
    run.log({"x": 0.0}, step=0)
    assert run.flush()
    backend = run._writer.backend  # type: ignore[union-attr]
    backend._conn = _CommitReplyLost(backend._conn)
    for step in range(1, 100):
        run.log({"x": float(step), "y": 1.0}, step=step)
    run.log_text("t", "once", step=99)
    run.log_console([("stdout", 1.0, 99, "line once")])
    assert not run.flush()  # committed, but the writer cannot know: it keeps the data
    for step in range(100, 150):
        run.log({"x": float(step)}, step=step)
    run.log_text("t", "twice", step=149)
    run.log_console([("stdout", 2.0, 149, "line twice")])
    run.finish()
    assert _points(pg_url, run.id) == (list(range(150)), [float(s) for s in range(150)],
                                       "finished")
    assert _points(pg_url, run.id, "y")[0] == list(range(1, 100))
    with tracker.open_store(pg_url) as store:
        assert [t.text for t in store.texts(run.id, "t")] == ["once", "twice"]
        # the store numbers console lines: the one sent again is not stored a second time
        assert [(c.seq, c.text) for c in store.console_lines(run.id)] == [
            (0, "line once"), (1, "line twice")]
