"""No data lost when the process dies: kill -9 at random moments, SIGTERM, normal exit, crashes.
On both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap

import pytest

import tracker
from tests.store_sql import execute, is_sqlite


@pytest.fixture
def db_path(any_store):
    return any_store


# The child logs one point per step, paced with Event.wait, and after each step prints the step
# and the wall time it logged. Those lines outlive a kill -9 (they sit in the pipe), so the test
# reads in the child's own clock how far it got, whatever the test process's own scheduling.
CHILD = textwrap.dedent(
    """
    import sys, threading, time
    import tracker
    run = tracker.init("crash", db=sys.argv[1])
    print(run.id, flush=True)
    pause = threading.Event()
    step = 0
    while True:
        now = time.time()
        run.log({"value": float(step), "wall": now}, step=step)
        print(step, now, flush=True)
        pause.wait(0.002)
        step += 1
    """
)


def _spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_at_random_moments_loses_at_most_the_flush_window(db_path):
    rng = random.Random(1234)
    checked_window = 0
    for attempt, lines in enumerate((rng.randint(1, 5), rng.randint(15, 25), rng.randint(30, 45))):
        child = _spawn(CHILD, os.fspath(db_path))
        run_id = child.stdout.readline().strip()
        # lines x 50 steps x >= 2 ms: from a fraction of a flush window to several windows
        line = child.stdout.readline()
        while line and int(line.split()[0]) < lines * 50:
            line = child.stdout.readline()
        assert line, child.stderr.read()  # the child died by itself
        child.kill()
        child.wait()
        # How far the child got before it died, in its own clock: the last complete line it
        # printed (a step is logged before it is printed, so at most one more was logged). Read
        # from the child, it does not depend on when this process was scheduled around the kill.
        *complete, _ = (line + child.stdout.read()).split("\n")  # a cut-off last line is dropped
        last_step, last_wall = int(complete[-1].split()[0]), float(complete[-1].split()[1])
        if is_sqlite(db_path):
            assert execute(db_path, "PRAGMA integrity_check") == [("ok",)]
        with tracker.open_store(db_path) as store:
            s = store.series(run_id, "value")
            info = store.run(run_id)
        assert info.status == "crashed"
        # Whatever was stored is a gap-free prefix of what was logged...
        assert s.values.tolist() == [float(i) for i in range(len(s))], attempt
        assert len(s) <= last_step + 2, (attempt, len(s), last_step)
        # ...and only the last flush window (1 s, plus slack for a loaded machine) is missing.
        if last_wall - _started(db_path, run_id) > 2.5:
            checked_window += 1
            assert len(s) > 0
            with tracker.open_store(db_path) as store:
                walls = store.series(run_id, "wall").values
            assert last_wall - walls.max() < 2.5, (attempt, last_wall - walls.max())
    assert checked_window >= 1  # at least one run lived long enough to check the loss window


def _started(db_path, run_id) -> float:
    with tracker.open_store(db_path) as store:
        return store.run(run_id).started


SIGTERM_CHILD = textwrap.dedent(
    """
    import sys, threading
    from tracker.run import Run
    run = Run(project="term", db=sys.argv[1], flush_interval=3600)  # nothing flushed by the timer
    for i in range(1000):
        run.log({"x": float(i)})
    print(run.id, flush=True)
    threading.Event().wait(60)
    """
)


def test_sigterm_flushes_and_marks_the_run_killed(db_path):
    child = _spawn(SIGTERM_CHILD, os.fspath(db_path))
    run_id = child.stdout.readline().strip()
    child.send_signal(signal.SIGTERM)
    assert child.wait(30) == -signal.SIGTERM
    with tracker.open_store(db_path) as store:
        info = store.run(run_id)
        assert len(store.series(run_id, "x")) == 1000
    assert info.status == "killed"


EXIT_CHILD = textwrap.dedent(
    """
    import sys
    from tracker.run import Run
    run = Run(project="exit", db=sys.argv[1], flush_interval=3600)
    for i in range(500):
        run.log({"x": float(i)})
    print(run.id, flush=True)
    if sys.argv[2] == "raise":
        raise RuntimeError("boom")
    """
)


def test_interpreter_exit_flushes_and_finishes(db_path):
    for mode, status in (("normal", "finished"), ("raise", "failed")):
        out = subprocess.run(
            [sys.executable, "-c", EXIT_CHILD, os.fspath(db_path), mode], capture_output=True, text=True
        )
        run_id = out.stdout.strip()
        with tracker.open_store(db_path) as store:
            assert store.run(run_id).status == status, out.stderr
            assert len(store.series(run_id, "x")) == 500


def test_a_stale_heartbeat_shows_as_crashed(db_path):
    run = tracker.init("p", db=db_path)
    run.log({"a": 1.0})
    run.flush()
    execute(db_path, "UPDATE runs SET heartbeat = heartbeat - 3600, host = 'elsewhere'")
    with tracker.open_store(db_path) as store:
        assert store.run(run.id).status == "crashed"
        assert [r.id for r in store.runs(status="crashed")] == [run.id]
    run.finish()
