"""A worker thread that computes ``watch()``'s CPU statistics off the training thread.

On CPU the histograms and norms of a logging step cost the training thread milliseconds (about
1 ms for a 400k-parameter MLP), while torch kernels release the GIL: handed copies of the weights
and gradients, this thread does that work on another core and the training thread only copies.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class StatsWorker:
    """Runs submitted jobs one at a time, in order, on one daemon thread (started on first use).

    A job that raises is not retried: its error is kept in ``error`` for the owner to report.
    """

    def __init__(self, name: str = "tracker-watch") -> None:
        self.name = name
        self.error: BaseException | None = None
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
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

    def close(self) -> None:
        """Finish the queued jobs and stop the thread."""
        if self._thread is None:
            return
        self.wait()
        self._jobs.put(None)
        self._thread.join()
        self._thread = None

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except BaseException as exc:  # kept for the owner: a watch bug must not kill training
                self.error = exc
            finally:
                with self._done:
                    self._pending -= 1
                    if not self._pending:
                        self._done.notify_all()


_shared: StatsWorker | None = None
_shared_lock = threading.Lock()


def shared_worker() -> StatsWorker:
    """The one worker every ``watch()`` shares (one thread, however many models are watched)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = StatsWorker()
        return _shared
