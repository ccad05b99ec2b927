"""A worker thread that computes ``watch()``'s CPU statistics off the training thread.

On CPU the histograms and norms of a logging step cost the training thread milliseconds (about
1 ms for a 400k-parameter MLP), while torch kernels release the GIL: handed copies of the weights
and gradients, this thread does that work on another core and the training thread only copies.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import torch


class StatsWorker:
    """Runs submitted jobs one at a time, in order, on one daemon thread (started on first use).

    Jobs catch their own errors (``watch()`` wraps each): one that raises anyway is dropped, and
    the thread goes on.
    """

    def __init__(self, name: str = "tracker-watch") -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._done = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job`` behind the ones already submitted."""
        with self._done:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def wait(self) -> None:
        """Return once every submitted job has finished (at once when none is pending)."""
        if not self._pending:
            return
        with self._done:
            while self._pending:
                self._done.wait()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except BaseException:  # a job's bug must not end the thread
                pass
            finally:
                with self._done:
                    self._pending -= 1
                    if not self._pending:
                        self._done.notify_all()


def copy_into(kept: dict[str, torch.Tensor], name: str, t: torch.Tensor) -> torch.Tensor:
    """``t`` copied into the CPU buffer kept under ``name`` (made on first use or a change of
    shape): a fresh large allocation page-faults (0.4 ms per MB), a reused one does not."""
    buf = kept.get(name)
    if buf is None or buf.shape != t.shape or buf.dtype != t.dtype:
        buf = kept[name] = torch.empty_like(t, memory_format=torch.contiguous_format)
    return buf.copy_(t)


_shared: StatsWorker | None = None
_shared_lock = threading.Lock()


def shared_worker() -> StatsWorker:
    """The one worker every ``watch()`` shares (one thread, however many models are watched)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = StatsWorker()
        return _shared
