"""A run's final status follows how its process ended (exit code 0: finished, non-zero: failed,
a signal: killed), and a SIGTERM during ``finish()`` lets the finish complete before the exit.
On both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import tracker


@pytest.fixture
def db_path(any_store):
    return any_store


ENDINGS = {
    "sys.exit(1) without with": "run = tracker.init('p', db=db)\nrun.log({'x': 1.0})\nsys.exit(1)",
    "sys.exit(0) without with": "run = tracker.init('p', db=db)\nrun.log({'x': 1.0})\nsys.exit(0)",
    "sys.exit('message')": "run = tracker.init('p', db=db)\nrun.log({'x': 1.0})\nsys.exit('bad')",
    "sys.exit(0) inside with": (
        "with tracker.init('p', db=db) as run:\n    run.log({'x': 1.0})\n    sys.exit(0)"),
    "sys.exit(2) inside with": (
        "with tracker.init('p', db=db) as run:\n    run.log({'x': 1.0})\n    sys.exit(2)"),
    "raise SystemExit inside with": (
        "with tracker.init('p', db=db) as run:\n    run.log({'x': 1.0})\n    raise SystemExit"),
    "falls off the end": "run = tracker.init('p', db=db)\nrun.log({'x': 1.0})",
    "uncaught exception": "run = tracker.init('p', db=db)\nrun.log({'x': 1.0})\n1 / 0",
    "KeyboardInterrupt": "run = tracker.init('p', db=db)\nrun.log({'x': 1.0})\nraise KeyboardInterrupt",
    # A launcher (SLURM preemption, Lightning) that ends the process from its own SIGTERM handler,
    # installed before tracker's (tracker then calls it after flushing)...
    "launcher's handler before init": (
        "signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))\n"
        "run = tracker.init('p', db=db)\nrun.log({'x': 1.0})\n"
        "os.kill(os.getpid(), signal.SIGTERM)\nsignal.pause()"),
    "launcher's handler before init, inside with": (
        "signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))\n"
        "with tracker.init('p', db=db) as run:\n    run.log({'x': 1.0})\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n    signal.pause()"),
    # ...or after it, replacing it
    "launcher's handler after init": (
        "run = tracker.init('p', db=db)\nrun.log({'x': 1.0})\n"
        "signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))\n"
        "os.kill(os.getpid(), signal.SIGTERM)\nsignal.pause()"),
    "plain SIGTERM": (
        "run = tracker.init('p', db=db)\nrun.log({'x': 1.0})\n"
        "os.kill(os.getpid(), signal.SIGTERM)\nsignal.pause()"),
}
EXPECTED = {
    "sys.exit(1) without with": (1, "failed"),
    "sys.exit(0) without with": (0, "finished"),
    "sys.exit('message')": (1, "failed"),
    "sys.exit(0) inside with": (0, "finished"),
    "sys.exit(2) inside with": (2, "failed"),
    "raise SystemExit inside with": (0, "finished"),
    "falls off the end": (0, "finished"),
    "uncaught exception": (1, "failed"),
    "KeyboardInterrupt": (-signal.SIGINT, "killed"),
    "launcher's handler before init": (143, "killed"),
    "launcher's handler before init, inside with": (143, "killed"),
    "launcher's handler after init": (143, "killed"),
    "plain SIGTERM": (-signal.SIGTERM, "killed"),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_the_status_follows_how_the_process_ended(db_path, ending):
    code = "import os, signal, sys\nimport tracker\ndb = sys.argv[1]\n" + ENDINGS[ending]
    out = subprocess.run([sys.executable, "-c", code, os.fspath(db_path)],
                         capture_output=True, text=True, timeout=120)
    exit_code, status = EXPECTED[ending]
    assert out.returncode in (exit_code, 130 if exit_code == -signal.SIGINT else exit_code), (
        out.stderr)
    with tracker.open_store(db_path) as store:
        (info,) = store.runs()
        assert store.series(info.id, "x").values.tolist() == [1.0]
    assert info.status == status, out.stderr


# The SIGTERM arrives while finish() writes the buffered points (the scheduler preempts a job that
# is finishing): the first write of the final flush raises it (on SQLite inside the transaction,
# where the points are appended; on PostgreSQL as the batch's write begins).
SIGTERM_IN_FINISH = textwrap.dedent(
    """
    import os, signal, sys
    from tracker.run import Run
    from tracker.store.sqlite import series_writes
    run = Run(project="p", db=sys.argv[1], flush_interval=3600)  # nothing flushed by the timer
    for i in range(100000):
        run.log({"a": float(i), "b": float(i)}, step=i)
    print(run.id, flush=True)
    sqlite = "://" not in sys.argv[1]
    owner, name = (series_writes, "append_scalars") if sqlite else (run._writer.backend, "write")
    write, sent = getattr(owner, name), []

    def write_and_signal(*args, **kwargs):
        if not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGTERM)  # its handler runs right here, inside finish()
        return write(*args, **kwargs)

    setattr(owner, name, write_and_signal)
    run.finish()
    print("finish returned", flush=True)
    """
)


def test_sigterm_during_finish_lets_the_finish_complete_then_exits(db_path):
    out = subprocess.run([sys.executable, "-c", SIGTERM_IN_FINISH, os.fspath(db_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == -signal.SIGTERM, out.stderr
    assert "finish returned" not in out.stdout  # the process still ends by the signal
    run_id = out.stdout.split()[0]
    with tracker.open_store(db_path) as store:
        info = store.run(run_id)
        a, b = store.series(run_id, "a"), store.series(run_id, "b")
    assert len(a) == len(b) == 100000
    assert info.status == "finished"  # the finish that was running decided it
