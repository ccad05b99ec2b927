"""An exception can land anywhere in ``log()`` (Ctrl-C in a notebook, a signal handler's
exception): every entry is all-or-nothing, no lock is left held, and a SIGTERM arriving inside
``log()`` finishes the run (its flush hooks log too) instead of deadlocking. On both backends
(SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable

import numpy as np
import pytest

import tracker


@pytest.fixture
def db_path(any_store):
    return any_store

# What an asynchronous exception looks like to the code it lands in: raised before any bytecode
# of any Python function log() runs (ours or the standard library's, e.g. threading's).


def _interrupted_at(n: int, call: Callable[[], object]) -> bool:
    """Run ``call()`` raising KeyboardInterrupt before its n-th bytecode; True if it landed."""
    count = 0

    def local(frame, event, arg):  # noqa: ANN001, ANN202 - the sys.settrace protocol
        nonlocal count
        if event == "opcode":
            count += 1
            if count == n:
                raise KeyboardInterrupt
        return local

    def start(frame, event, arg):  # noqa: ANN001, ANN202
        frame.f_trace_opcodes = True
        return local

    sys.settrace(start)
    try:
        call()
    except KeyboardInterrupt:
        return True
    finally:
        sys.settrace(None)
    return False


def _log_does_not_hang(run: tracker.Run) -> None:
    """A later log() returns (on a thread, so that a lock left held fails the test, not hangs it)."""
    probe = threading.Thread(target=run.log, args=({"probe": 1.0},), daemon=True)
    probe.start()
    probe.join(60)  # a hang detector: log() takes microseconds
    assert not probe.is_alive(), "log() hangs after an interrupted log(): a lock was left held"


def _sweep(run: tracker.Run, make_call: Callable[[int], Callable[[], object]]) -> dict[int, bool]:
    """Interrupt call i at its i-th bytecode, for i = 1, 2, ... until a call runs through."""
    interrupted: dict[int, bool] = {}
    i = 0
    while True:
        i += 1
        landed = _interrupted_at(i, make_call(i))
        interrupted[i] = landed
        _log_does_not_hang(run)
        if not landed:
            return interrupted


def _check_all_or_nothing(db_path, run_id: str, keys: list[str], interrupted: dict[int, bool]):
    with tracker.open_store(db_path) as store:
        series = {k: store.series(run_id, k) for k in keys}
    present = [set(s.steps.tolist()) for s in series.values()]
    for s in series.values():
        assert (s.values == s.steps.astype(float)).all()  # every value sits at its own step
    for i, landed in interrupted.items():
        found = [i in steps for steps in present]
        assert all(found) or not any(found), (i, found)  # the whole entry, or none of it
        if not landed:
            assert all(found), i


@pytest.mark.parametrize("path", ["fast", "slow", "nested", "first-use"])
def test_an_interrupt_anywhere_in_log_leaves_whole_entries_and_no_lock(db_path, path):
    run = tracker.init("p", db=db_path)
    keys = ["a", "b", "c"]
    run.log({k: 0.0 for k in keys}, step=0)  # the keys are known: the fast path applies

    def make_call(i: int) -> Callable[[], object]:
        if path == "fast":
            return lambda: run.log({k: float(i) for k in keys}, step=i)
        if path == "slow":  # ints and numpy values are converted first
            return lambda: run.log({"a": i, "b": np.float32(i), "c": float(i)}, step=i)
        if path == "nested":
            return lambda: run.log({"a": float(i), "n": {"b": float(i), "c": float(i)}}, step=i)
        return lambda: run.log({"a": float(i), "b": float(i), f"new{i}": float(i)}, step=i)

    interrupted = _sweep(run, make_call)
    run.finish()
    assert any(interrupted.values()) and len(interrupted) > 10
    if path == "nested":
        keys = ["a", "n/b", "n/c"]
    if path == "first-use":
        keys = ["a", "b"]
    _check_all_or_nothing(db_path, run.id, keys, interrupted)


def test_an_interrupt_in_a_log_with_the_default_step_never_shifts_later_points(db_path):
    run = tracker.init("p", db=db_path)
    run.log({"a": 0.0, "b": 0.0})
    interrupted = _sweep(run, lambda i: lambda: run.log({"a": float(run.step + 1),
                                                          "b": float(run.step + 1)}))
    for _ in range(3):
        run.log({"a": float(run.step + 1), "b": float(run.step + 1)})
    run.finish()
    assert any(interrupted.values())
    with tracker.open_store(db_path) as store:
        a, b = store.series(run.id, "a"), store.series(run.id, "b")
    assert a.steps.tolist() == b.steps.tolist()
    assert (a.values == a.steps).all() and (b.values == b.steps).all()
    assert a.steps.tolist() == sorted(set(a.steps.tolist()))  # no step given twice


def test_an_interrupt_while_the_buffer_is_full_leaves_no_lock_behind(db_path):
    # The back-pressure path (wait for the writer, wake it) is in the sweep too.
    run = tracker.init("p", db=db_path)
    run._buf.soft_limit, run._buf.hard_limit = 2, 4
    run.log({"a": 0.0}, step=0)
    interrupted = _sweep(run, lambda i: lambda: run.log({"a": float(i)}, step=i))
    run.finish()
    assert any(interrupted.values())
    _check_all_or_nothing(db_path, run.id, ["a"], interrupted)


def test_an_interrupt_in_log_series_text_and_histogram_leaves_whole_records(db_path):
    run = tracker.init("p", db=db_path)
    series = _sweep(run, lambda i: lambda: run.log_series(
        "s", np.array([i, i]), np.array([float(i), float(i)])))
    texts = _sweep(run, lambda i: lambda: run.log_text("t", str(i), step=i))
    hists = _sweep(run, lambda i: lambda: run.log_histogram("h", [float(i)] * 3, step=i))
    run.finish()
    with tracker.open_store(db_path) as store:
        s = store.series(run.id, "s")
        got_texts = {t.step: t.text for t in store.texts(run.id, "t")}
        got_hists = {h.step: h.histogram.count for h in store.histograms(run.id, "h")}
    steps = s.steps.tolist()
    for i, landed in series.items():
        assert steps.count(i) in ((0, 2) if landed else (2,)), i
    assert (s.values == s.steps).all()
    for i, landed in texts.items():
        assert got_texts.get(i, str(i)) == str(i) and (landed or i in got_texts)
    for i, landed in hists.items():
        assert got_hists.get(i, 3) == 3 and (landed or i in got_hists)


def test_a_default_step_past_int64_is_refused_before_anything_is_appended(db_path):
    with tracker.init("p", db=db_path) as run:
        run.log({"a": 1.0}, step=2**63 - 1)
        with pytest.raises(ValueError, match="64-bit"):
            run.log({"a": 2.0, "b": 3.0})
        with pytest.raises(ValueError, match="64-bit"):
            run.log({"a": 2, "b": 3})  # the slow path too
        run.log({"a": 4.0}, step=5)
    with tracker.open_store(db_path) as store:
        a = store.series(run.id, "a")
        keys = [k.key for k in store.keys(run.id)]
    assert a.steps.tolist() == [5, 2**63 - 1] and a.values.tolist() == [4.0, 1.0]
    assert keys == ["a"]


# A SIGTERM whose handler runs while the main thread is inside log(): the handler finishes the
# run, and the run's flush hook logs. The clock log() reads raises the signal itself, so the
# handler runs at the same place inside log() every time.
SIGTERM_IN_LOG = textwrap.dedent(
    """
    import faulthandler, os, signal, sys
    import tracker, tracker.run.run
    faulthandler.dump_traceback_later(120, exit=True)  # a deadlock prints where, then exits 1
    run = tracker.init("p", db=sys.argv[1])
    run.add_flush_hook(lambda: run.log({"hook": 1.0}, step=0))
    print(run.id, flush=True)
    clock, calls = tracker.run.run._now, 0

    def now():
        global calls
        calls += 1
        if calls == int(sys.argv[2]):
            signal.raise_signal(signal.SIGTERM)
        return clock()

    tracker.run.run._now = now
    for i in range(100000):
        run.log({"x": float(i), "y": float(i)}, step=i)
    print("not terminated", flush=True)
    """
)


@pytest.mark.parametrize("at", [1, 2000])
def test_sigterm_inside_log_finishes_the_run_with_its_hooks(db_path, at):
    out = subprocess.run([sys.executable, "-c", SIGTERM_IN_LOG, os.fspath(db_path), str(at)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == -signal.SIGTERM, out.stderr[-3000:]
    run_id = out.stdout.split()[0]
    with tracker.open_store(db_path) as store:
        info = store.run(run_id)
        x, y = store.series(run_id, "x"), store.series(run_id, "y")
        hook = store.series(run_id, "hook")
    assert info.status == "killed"
    assert x.steps.tolist() == y.steps.tolist() == list(range(len(x)))  # whole entries only
    assert len(x) >= at - 1 and hook.values.tolist() == [1.0]
