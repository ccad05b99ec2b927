"""One daemon thread per process that flushes every open run's writer when it is due.

A thread per run would cost a thread start and join for every short run (a sweep of 200 runs in one
process paid ~2 ms per run for that alone on a busy 2-core machine).

Callers wake the thread through a ``queue.SimpleQueue``: its ``put`` is one C call that takes no
lock a Python exception could leave held (a ``threading.Event.set()`` interrupted by Ctrl-C, or by a
signal handler's exception, could leave its condition's lock held and every later wake-up hung).
"""

from __future__ import annotations

import os
import queue
import threading
import time
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .writer import Writer

_writers: weakref.WeakSet[Writer] = weakref.WeakSet()
_wakeups: queue.SimpleQueue[None] = queue.SimpleQueue()
_lock = threading.Lock()
_thread: threading.Thread | None = None


def add(writer: Writer) -> None:
    """Start flushing ``writer`` (and start the thread if this process has none yet)."""
    global _thread
    with _lock:
        _writers.add(writer)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name="tracker-flusher", daemon=True)
            _thread.start()


def remove(writer: Writer) -> None:
    """Stop flushing ``writer``."""
    with _lock:
        _writers.discard(writer)


def wake() -> None:
    """Run a round now (a writer asked for a flush)."""
    _wakeups.put(None)


def next_wait(writers: list[Writer], now: float) -> float:
    """Seconds until the next writer's flush by time is due (at most 1 s; none due: 1 s).

    Counted from each writer's last flush, not from the end of the last round: a round woken
    early (another writer asked) must not push the others' flushes back by a whole interval.
    """
    soonest = min((w.next_due() for w in writers), default=now + 1.0)
    return min(1.0, max(0.0, soonest - now))


def _loop() -> None:
    wait = 1.0
    while True:
        try:
            _wakeups.get(timeout=wait) if wait > 0 else None
            while True:  # one round answers every wake-up so far
                _wakeups.get_nowait()
        except queue.Empty:
            pass
        # The list is taken after the wait: a writer added while we slept may be why we woke.
        with _lock:
            writers = list(_writers)
        now = time.monotonic()
        for writer in writers:
            try:
                if writer.due(now):
                    writer.flush_due()  # reports its own storage errors; this is for the rest
                elif writer.read_requested:
                    writer.read_deferred()  # device handles only, no write to the file
            except Exception as exc:  # noqa: BLE001 - the thread must outlive one bad writer
                writer.report(exc)
        wait = next_wait(writers, time.monotonic())
        del writers


def _after_fork_in_child() -> None:
    # The parent's thread did not come along, and its lock or queue may have been in use.
    global _writers, _wakeups, _lock, _thread
    _writers, _wakeups, _lock, _thread = weakref.WeakSet(), queue.SimpleQueue(), threading.Lock(), None


os.register_at_fork(after_in_child=_after_fork_in_child)
