"""One daemon thread per process that flushes every open run's writer when it is due.

A thread per run would cost a thread start and join for every short run (a sweep of 200 runs in one
process paid ~2 ms per run for that alone on a busy 2-core machine).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .writer import Writer

_writers: weakref.WeakSet[Writer] = weakref.WeakSet()
_event = threading.Event()
_lock = threading.Lock()
_thread: threading.Thread | None = None
_pid = os.getpid()


def add(writer: Writer) -> None:
    """Start flushing ``writer`` (and start the thread if this process has none yet)."""
    global _thread, _pid
    with _lock:
        if _pid != os.getpid():  # forked child: the parent's thread did not come along
            _pid, _thread = os.getpid(), None
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
    _event.set()


def _loop() -> None:
    tick = 1.0
    while True:
        _event.wait(tick)
        _event.clear()
        # The list is taken after the wait: a writer added while we slept may be why we woke.
        with _lock:
            writers = list(_writers)
        tick = min(min((w.interval for w in writers), default=1.0), 1.0)
        now = time.monotonic()
        for writer in writers:
            try:
                if writer.due(now):
                    writer.flush_due()  # reports its own storage errors; this is for the rest
                elif writer.read_requested:
                    writer.read_deferred()  # device handles only, no write to the file
            except Exception as exc:  # noqa: BLE001 - the thread must outlive one bad writer
                writer.report(exc)
        del writers
