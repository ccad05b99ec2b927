"""Processes that die against a PostgreSQL store, on the suite's real server: kill -9 of a training
run on the local spool (``tracker sync`` brings every flushed point over, once), a run on another
host whose process died (crashed by its heartbeat, on the server's clock), and kill -9 of a writer
in the middle of one very large batch (none of it stored, nothing left locked)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

import tracker
from tests.store_sql import execute
from tracker.cli import main
from tracker.errors import StoreError
from tracker.read import STALE_AFTER_S
from tracker.store import open_backend
from tracker.store.backend import NewRun, SeriesPoints, TextItem, WriteBatch


def _db_name(url: str) -> str:
    return url.split("@/")[1].split("?")[0]


def _wait_for(condition: Any, what: str, limit_s: float = 120.0) -> Any:
    """Poll ``condition()`` until it gives something true (a hang detector, not a timing bound)."""
    pause = threading.Event()
    waited = 0.0
    while waited < limit_s:
        found = condition()
        if found:
            return found
        pause.wait(0.01)
        waited += 0.01
    raise AssertionError(f"never happened: {what}")


def _spawn(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


# -- 1. kill -9 of a training run on the local spool --------------------------------------------
# Logs blocks of 1,000 steps; after each block's flush returned it prints how many steps are in
# the spool by then. It never stops by itself: the test kills it.
SPOOLED_RUN = textwrap.dedent(
    """
    import sys
    import tracker
    run = tracker.init("spooled", db=sys.argv[1])
    print(run.id, run.db_path, flush=True)
    step = 0
    while True:
        for _ in range(1000):
            run.log({"x": float(step), "y": -float(step)}, step=step)
            step += 1
        run.log_text("block", str(step), step=step - 1)
        assert run.flush()
        print("flushed", step, flush=True)
    """
)


def _sync(src: Any, dest: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracker.cli", "sync", str(src), dest],
                          capture_output=True, text=True, timeout=300)


def test_kill_9_on_the_spool_loses_no_flushed_point_and_sync_brings_each_once(
        pg_server: Any, pg_url: str, tmp_path: Path) -> None:
    # The run's server: a socket folder where no server listens (unreachable at init).
    nowhere_sock = tmp_path / "no-server"
    nowhere_sock.mkdir()
    nowhere = pg_server.url(_db_name(pg_url)).split("?")[0] + f"?host={nowhere_sock}"
    env = {**os.environ, "TRACKER_HOME": str(tmp_path / "home")}
    child = _spawn(SPOOLED_RUN, nowhere, env=env)
    run_id, spool = child.stdout.readline().split()  # type: ignore[union-attr]
    flushed = 0
    while flushed < 20_000:  # several flushes in, then kill it wherever it is
        line = child.stdout.readline()  # type: ignore[union-attr]
        assert line, child.stderr.read()  # type: ignore[union-attr]
        flushed = int(line.split()[1])
    child.send_signal(signal.SIGKILL)
    child.wait()
    for line in child.stdout.read().splitlines():  # type: ignore[union-attr]
        if line.startswith("flushed "):  # a flush that returned before the kill
            flushed = int(line.split()[1])
    err = child.stderr.read()  # type: ignore[union-attr]
    assert err.count("local spool") == 1, err
    assert Path(spool).parent == tmp_path / "home"

    with tracker.open_store(spool) as store:
        x, y = store.series(run_id, "x"), store.series(run_id, "y")
        blocks = [t.text for t in store.texts(run_id, "block")]
        assert store.run(run_id).status == "crashed"  # its pid is gone
    # every flushed step reached the spool, as a gap-free prefix of what was logged
    assert len(x) >= flushed and x.steps.tolist() == list(range(len(x)))
    assert (x.values == x.steps).all() and y.steps.tolist() == x.steps.tolist()
    assert blocks[: flushed // 1000] == [str(1000 * (b + 1)) for b in range(flushed // 1000)]

    out = _sync(spool, pg_url)  # the server is reachable now
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"synced 1 run (1 new): {2 * len(x):,} points"), out.stdout
    with tracker.open_store(pg_url) as store:
        assert store.series(run_id, "x").steps.tolist() == x.steps.tolist()  # each once
        assert store.series(run_id, "y").values.tolist() == y.values.tolist()
        assert [t.text for t in store.texts(run_id, "block")] == blocks
    again = _sync(spool, pg_url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("synced 1 run (0 new): 0 points"), again.stdout
    with tracker.open_store(pg_url) as store:
        assert len(store.series(run_id, "x")) == len(x)
        assert len(store.texts(run_id, "block")) == len(blocks)


# -- 2. crash detection across hosts --------------------------------------------------------------
# A training process "on another host" (its hostname is another's: the run's host field names
# that host), killed with -9 after a flush: its heartbeat stops where that flush left it.
OTHER_HOST_RUN = textwrap.dedent(
    """
    import socket, sys, threading
    socket.gethostname = lambda: sys.argv[2]
    import tracker
    run = tracker.init("hosts", name=sys.argv[2], db=sys.argv[1])
    run.log({"x": 1.0})
    assert run.flush()
    print(run.id, flush=True)
    threading.Event().wait()
    """
)


def _run_killed_on(host: str, url: str) -> str:
    child = _spawn(OTHER_HOST_RUN, url, host)
    run_id = child.stdout.readline().strip()  # type: ignore[union-attr]
    assert run_id, child.stderr.read()  # type: ignore[union-attr]
    child.send_signal(signal.SIGKILL)
    child.wait()
    with pytest.raises(ProcessLookupError):  # its pid does not exist here
        os.kill(child.pid, 0)
    return run_id


def _heartbeat_age(url: str, run_id: str, age_s: float) -> None:
    """Set the run's heartbeat ``age_s`` seconds back on the server's own clock."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE runs SET heartbeat = extract(epoch from clock_timestamp()) - %s"
                     " WHERE id = %s", (age_s, run_id))


def _statuses(url: str) -> tuple[dict[str, str], dict[str, str]]:
    """Each run's status as ``open_store(...).runs()`` and as ``tracker ls --json`` show it."""
    with tracker.open_store(url) as store:
        api = {r.id: r.status for r in store.runs()}
    out = CliRunner().invoke(main, ["ls", "--json", "--db", url])
    assert out.exit_code == 0, out.output
    import json

    return api, {r["id"]: r["status"] for r in json.loads(out.output)}


def test_a_run_on_another_host_is_crashed_by_its_heartbeat_not_by_its_pid(pg_url: str) -> None:
    here = socket.gethostname()
    other = _run_killed_on("node-" + here + "-other", pg_url)
    local = _run_killed_on(here, pg_url)
    api, ls = _statuses(pg_url)
    # fresh heartbeats: the other host's pid is not looked up here; this host's dead pid is
    assert api == ls == {other: "running", local: "crashed"}
    _heartbeat_age(pg_url, other, STALE_AFTER_S - 20)  # old, but not stale yet
    api, ls = _statuses(pg_url)
    assert api[other] == ls[other] == "running"
    _heartbeat_age(pg_url, other, STALE_AFTER_S + 20)
    api, ls = _statuses(pg_url)
    assert api[other] == ls[other] == "crashed"
    with tracker.open_store(pg_url) as store:
        assert [r.id for r in store.runs(status="crashed")] == sorted(
            [other, local], key=[r.id for r in store.runs()].index)
        assert store.run(other).host != here


# -- 3. kill -9 of a writer in the middle of one very large batch ---------------------------------
BIG_BATCH = textwrap.dedent(
    """
    import os, socket, sys, time
    import numpy as np
    from tracker.names import new_run_id
    from tracker.store import open_backend
    from tracker.store.backend import NewRun, SeriesPoints, WriteBatch

    def points(key, a, b):
        steps = np.arange(a, b, dtype=np.int64)
        return SeriesPoints(key, steps, 1.7e9 + steps * 1e-3, steps * 0.5)

    backend = open_backend(sys.argv[1], mode="write")
    start = backend.create_run(NewRun(
        id=new_run_id(), project="big", name="big", group=None, config={}, tags=[], notes=None,
        host=socket.gethostname(), pid=os.getpid(), rank=None, local_rank=None, world_size=None,
        started=time.time()))
    backend.write(start.id, WriteBatch(points=[points("x", 0, 1000)]), now=time.time())
    print(start.id, flush=True)
    n = int(sys.argv[2])
    backend.write(start.id, WriteBatch(points=[points("x", 1000, 1000 + n),
                                               points("y", 0, n)]), now=time.time())
    print("written", flush=True)
    """
)


def _admin(url: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, args).fetchall()


def test_kill_9_mid_batch_stores_none_of_it_and_leaves_no_lock(pg_server: Any, pg_url: str) -> None:
    db = _db_name(pg_url)
    admin_url = pg_server.url("postgres")
    child = _spawn(BIG_BATCH, pg_url, str(4_000_000))
    run_id = child.stdout.readline().strip()  # type: ignore[union-attr]
    assert run_id, child.stderr.read()  # type: ignore[union-attr]

    def sending_the_batch() -> list[tuple[Any, ...]]:
        # the child's session, in a transaction that has written (an xid) and gone past the
        # heartbeat's update to the batch's own rows
        return _admin(admin_url,
                      "SELECT pid, query FROM pg_stat_activity WHERE datname = %s"
                      " AND backend_xid IS NOT NULL AND query !~* '^\\s*UPDATE runs SET heartbeat'",
                      (db,))

    _wait_for(sending_the_batch, "the server receives the batch")
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert "written" not in child.stdout.read()  # type: ignore[union-attr]  # killed mid-batch
    _wait_for(lambda: not _admin(admin_url, "SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                 (db,)), "the server ends the dead client's session")
    locks = _admin(admin_url, "SELECT l.locktype, l.mode FROM pg_locks l JOIN pg_database d"
                              " ON d.oid = l.database WHERE d.datname = %s", (db,))
    assert locks == []

    with tracker.open_store(pg_url) as store:
        assert [(k.key, k.count) for k in store.keys(run_id)] == [("x", 1000)]
        assert store.series(run_id, "x").steps.tolist() == list(range(1000))
        assert store.series(run_id, "y").steps.tolist() == []
        assert store.run(run_id).status == "crashed"
    # what the series say they hold is what their chunks and blocks hold
    counts = _admin(pg_url, "SELECT s.key, s.count, (SELECT coalesce(sum(c.n), 0) FROM point_chunks"
                            " c WHERE c.series_id = s.id) FROM series s")
    assert counts == [("x", 1000, 1000)]
    per_level = _admin(pg_url, "SELECT DISTINCT sum(n) FROM point_blocks GROUP BY level")
    assert per_level == [(1000,)]  # each level of min/max blocks covers the same points

    with tracker.init(db=pg_url, resume=run_id, strict=True) as run:  # the run takes new writes
        for step in range(1000, 3000):
            run.log({"x": float(step) * 0.5, "y": 1.0}, step=step)
    with tracker.open_store(pg_url) as store:
        x = store.series(run_id, "x")
        assert x.steps.tolist() == list(range(3000)) and (x.values == x.steps * 0.5).all()
        assert store.series(run_id, "y").steps.tolist() == list(range(1000, 3000))
        assert store.run(run_id).status == "finished"


# -- strict mode: a write the server broke off raises ---------------------------------------------
def test_strict_mode_raises_when_the_server_drops_the_connection(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_HOME", str(tmp_path / "home"))  # spill files, if any, stay here
    run = tracker.init("p", db=pg_url, strict=True)
    run.log({"a": 1.0})
    assert run.flush()
    # the server ends the run's session (an administrator, a failover): the next write fails
    (terminated,) = execute(pg_url, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                    " WHERE datname = current_database() AND pid <> pg_backend_pid()")
    assert terminated == (1,)
    run.log({"a": 2.0})
    with pytest.raises(StoreError, match="cannot write to") as err:
        run.flush()
    assert "\n" not in str(err.value)
    run.log({"a": 3.0})  # raised once: a strict run goes on when the store takes writes again
    assert run.flush()  # the next write reconnects; what the failed flush held is written once
    run.log({"a": 4.0})
    run.finish()
    with tracker.open_store(pg_url) as store:
        assert store.series(run.id, "a").values.tolist() == [1.0, 2.0, 3.0, 4.0]
        assert store.run(run.id).status == "finished"


# -- a record the driver cannot encode ------------------------------------------------------------
def test_a_text_the_driver_cannot_encode_is_dropped_alone(pg_url: str) -> None:
    import numpy as np

    backend = open_backend(pg_url, mode="write")
    backend.create_run(NewRun(id="abc12345", project="p", name="one", group=None, config={},
                              tags=[], notes=None, host="h", pid=1, rank=None, local_rank=None,
                              world_size=None, started=1.0))
    steps = np.arange(3, dtype=np.int64)
    try:
        dropped = backend.write("abc12345", WriteBatch(
            points=[SeriesPoints("x", steps, steps * 1.0, steps * 1.0)],
            records=[TextItem("bad", 0, 0.0, "file \udcff"), TextItem("ok", 0, 0.0, "fine")]),
            now=1.0)
    finally:
        backend.close()
    assert [(d.kind, d.key, d.count) for d in dropped] == [("text", "bad", 1)]
    with tracker.open_store(pg_url) as store:
        assert [k.key for k in store.keys("abc12345")] == ["ok", "x"]
