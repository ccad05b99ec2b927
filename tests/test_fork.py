"""A forked child (os.fork, a multiprocessing or DataLoader worker) logs into the parent's run with
its own writer, like ``tracker.attach``: it never writes the parent's buffer, never finishes the
parent's run, and what it logs is stored. On both backends (a forked child must not use the
parent's SQLite or PostgreSQL connection)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import tracker


@pytest.fixture
def db_path(any_store):
    return any_store

# In fresh processes: forking the test process (which may hold JAX's threads) could deadlock.
OS_FORK = textwrap.dedent(
    """
    import os, sys
    import tracker
    from tracker.run import Run
    run = Run(project="fork", db=sys.argv[1], flush_interval=3600)  # nothing flushed by the timer
    for i in range(50000):
        run.log({"parent": float(i)}, step=i)
    pid = os.fork()
    if pid == 0:  # the child logs, then exits the normal way (atexit hooks run)
        for i in range(10):
            run.log({"child/direct": float(i)}, step=i)
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    with tracker.open_store(sys.argv[1]) as store:
        print(run.id, os.waitstatus_to_exitcode(status), store.run(run.id).status, flush=True)
    for i in range(50000, 50010):
        run.log({"parent": float(i)}, step=i)
    run.finish()
    """
)


def test_an_os_fork_child_neither_rewrites_nor_finishes_the_parents_run(db_path):
    out = subprocess.run([sys.executable, "-c", OS_FORK, os.fspath(db_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    run_id, child_exit, status_after_child = out.stdout.split()
    assert child_exit == "0"
    assert status_after_child == "running"  # the child did not finish the parent's run
    with tracker.open_store(db_path) as store:
        parent = store.series(run_id, "parent")
        child = store.series(run_id, "child/direct")
        info = store.run(run_id)
    assert parent.steps.tolist() == list(range(50010))  # once each: no duplicates from the child
    assert child.values.tolist() == [float(i) for i in range(10)]  # the child's own logs
    assert info.status == "finished"
    assert "Traceback" not in out.stderr


MP_WORKER = textwrap.dedent(
    """
    import multiprocessing, sys
    import tracker

    def worker(rank):  # a DataLoader worker's shape: forked, ends with os._exit
        run = tracker.current_run()
        for i in range(1000):
            run.log({f"worker{rank}/x": float(i)}, step=i)
        run.log_text(f"worker{rank}/done", "yes")

    run = tracker.init("fork", db=sys.argv[1])
    run.log({"parent": 1.0})
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=worker, args=(r,)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    run.log({"parent": 2.0})
    run.finish()
    print(run.id, [p.exitcode for p in procs], flush=True)
    """
)


def test_multiprocessing_fork_workers_that_log_keep_what_they_log(db_path):
    out = subprocess.run([sys.executable, "-c", MP_WORKER, os.fspath(db_path)],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    run_id, codes = out.stdout.split(maxsplit=1)
    assert codes.strip() == "[0, 0]", out.stderr
    with tracker.open_store(db_path) as store:
        for rank in range(2):
            s = store.series(run_id, f"worker{rank}/x")
            assert s.values.tolist() == [float(i) for i in range(1000)], rank
            assert [t.text for t in store.texts(run_id, f"worker{rank}/done")] == ["yes"]
        assert store.series(run_id, "parent").values.tolist() == [1.0, 2.0]
        assert store.run(run_id).status == "finished"


DATALOADER = textwrap.dedent(
    """
    import sys
    import torch
    from torch.utils.data import DataLoader, Dataset
    import tracker
    torch.set_num_threads(1)

    class Logged(Dataset):  # a dataset that logs from the worker that loads each item
        def __len__(self):
            return 64

        def __getitem__(self, i):
            tracker.log({"data/index": float(i)}, step=i)
            return torch.tensor([float(i)])

    run = tracker.init("dl", db=sys.argv[1])
    loader = DataLoader(Logged(), batch_size=8, num_workers=2, multiprocessing_context="fork")
    seen = sorted(x for batch in loader for x in batch.view(-1).tolist())
    run.log({"loss": 1.0})
    run.finish()
    print(run.id, len(seen), flush=True)
    """
)


def test_a_dataloader_worker_that_logs_keeps_what_it_logs(db_path):
    out = subprocess.run([sys.executable, "-c", DATALOADER, os.fspath(db_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    run_id, items = out.stdout.split()
    assert items == "64"
    with tracker.open_store(db_path) as store:
        s = store.series(run_id, "data/index")
        assert sorted(s.steps.tolist()) == list(range(64)) and (s.values == s.steps).all()
        assert store.series(run_id, "loss").values.tolist() == [1.0]
        assert store.run(run_id).status == "finished"
    assert "tracker:" not in out.stderr, out.stderr
