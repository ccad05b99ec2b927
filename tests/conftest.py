"""Shared test set-up: quiet, single-threaded frameworks and a fresh store path per test."""

from __future__ import annotations

import os

# Before any framework is imported: TensorFlow's start-up noise off, one thread (2-core machines).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.pop("TRACKER_DB", None)
for _var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
    os.environ.pop(_var, None)

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tracker.notices import StderrHandler, logger  # noqa: E402

# pytest's logging plugin puts its capture handlers on the root logger, so Python's last-resort
# handler (what shows a user tracker's notices on stderr) never runs in-process: this one does
# the same here, on the stderr of each moment (capsys, capfd). caplog still gets every record.
logger.addHandler(StderrHandler())


@pytest.fixture
def db_path(tmp_path: Path) -> Iterator[Path]:
    """A store path in a fresh temporary directory (the file does not exist yet)."""
    yield tmp_path / "tracker.db"
    from tracker.store.sqlite import pool

    pool.close_all()  # finished runs leave idle connections for reuse; close them per test


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """One PostgreSQL server for the session, in a temporary directory, stopped at the end even
    when tests fail. No server binaries is an error, not a skip (.ci/run installs them)."""
    from tests import pg_server as pg

    server = pg.start_server()
    try:
        yield server
    finally:
        pg.remove(server)


@pytest.fixture
def pg_url(pg_server) -> str:  # type: ignore[no-untyped-def]
    """A postgresql:// URL of a fresh, empty database on the session's server."""
    return pg_server.create_database()


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A fresh store location of either backend: a SQLite path, or a ``ServerURL`` of an empty
    database on the session's PostgreSQL server. A module whose tests run on both overrides
    ``db_path`` with it (``def db_path(any_store): return any_store``)."""
    if request.param == "sqlite":
        yield tmp_path / "tracker.db"
    else:
        from tracker.urls import ServerURL

        server = request.getfixturevalue("pg_server")
        # a server store's spill files and spool live on this host, under $TRACKER_HOME: in the
        # test's folder (subprocesses inherit it), never in the user's ~/.cache
        request.getfixturevalue("monkeypatch").setenv("TRACKER_HOME", str(tmp_path / "home"))
        yield ServerURL(server.create_database())
    from tracker.store.sqlite import pool

    pool.close_all()

@pytest.fixture(autouse=True)
def _no_capture_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs start without system metrics and console capture unless a test asks:
    a sampler adding sys/ keys after a second would make key lists depend on timing, and one
    console capture per process would pass from test to test. Subprocess tests (scripts run
    with python) keep the real default, capture on."""
    from tracker.run import capture as run_capture

    monkeypatch.setattr(run_capture, "DEFAULT_SYSTEM", False)
    monkeypatch.setattr(run_capture, "DEFAULT_CONSOLE", False)
