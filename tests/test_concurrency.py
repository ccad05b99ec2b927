"""Several processes log to one store at once while a reader polls: no lost rows, no lock errors.
On both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest

import tracker


@pytest.fixture
def db_path(any_store):
    return any_store


WRITER = textwrap.dedent(
    """
    import sys
    import tracker
    run = tracker.init("sweep", name=f"worker-{sys.argv[2]}", db=sys.argv[1], ranks="all")
    for step in range(10000):
        run.log({f"k{j}": float(step * 10 + j) for j in range(5)}, step=step)
        if step % 250 == 0:
            run.flush()   # many small transactions, to interleave with the other writers
    run.log_text("done", "yes")
    run.finish()
    print(run.id)
    """
)


def test_four_processes_and_a_reader_share_one_store(db_path):
    tracker.init("sweep", name="seed", db=db_path).finish()  # create the file once
    stop = threading.Event()
    reader_errors: list[BaseException] = []
    polls = 0

    def poll() -> None:
        nonlocal polls
        while not stop.is_set():
            try:
                with tracker.open_store(db_path) as store:
                    for run in store.runs():
                        for key in run.last:
                            store.reduced(run.id, key, 100)
                polls += 1
            except BaseException as exc:  # noqa: BLE001 - any failure fails the test below
                reader_errors.append(exc)
                return

    reader = threading.Thread(target=poll)
    reader.start()
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, os.fspath(db_path), str(i)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    stop.set()
    reader.join()
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    assert all("locked" not in err and "tracker:" not in err for _, err in outputs), outputs
    assert not reader_errors, reader_errors
    assert polls > 0
    ids = [out.strip() for out, _ in outputs]
    with tracker.open_store(db_path) as store:
        for run_id in ids:
            info = store.run(run_id)
            assert info.status == "finished"
            for j in range(5):
                s = store.series(run_id, f"k{j}")
                assert s.values.tolist() == [float(step * 10 + j) for step in range(10000)]
            assert [t.text for t in store.texts(run_id, "done")] == ["yes"]


FORK_SCENARIO = textwrap.dedent(
    """
    import multiprocessing, sys
    import tracker

    def child(db, queue):
        run = tracker.init("fork", name="child", db=db, ranks="all")
        for i in range(100):
            run.log({"c": float(i)})
        run.finish()
        queue.put(run.id)

    db = sys.argv[1]
    parent = tracker.init("fork", name="parent", db=db)
    parent.log({"p": 1.0})
    parent.flush()
    tracker.init("fork", name="pooled", db=db).finish()  # leaves an idle connection behind
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=child, args=(db, queue))
    proc.start()
    child_id = queue.get(timeout=60)
    proc.join(60)
    parent.log({"p": 2.0})
    parent.finish()
    print(parent.id, child_id, proc.exitcode)
    """
)


def test_a_forked_child_logs_without_reusing_the_parents_connection(db_path):
    # In a fresh process: forking the test process (which has JAX's threads) could deadlock.
    out = subprocess.run([sys.executable, "-c", FORK_SCENARIO, os.fspath(db_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    parent_id, child_id, exitcode = out.stdout.split()
    assert exitcode == "0"
    with tracker.open_store(db_path) as store:
        assert store.series(child_id, "c").values.tolist() == [float(i) for i in range(100)]
        assert store.series(parent_id, "p").values.tolist() == [1.0, 2.0]
        assert store.run(parent_id).status == "finished"
