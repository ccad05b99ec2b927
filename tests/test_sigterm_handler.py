"""tracker's SIGTERM handler is there only while a run is open: a process with no open run gets
SIGTERM's previous handler back (a Python handler left behind made a multiprocessing Pool worker
unkillable when the kernel gave the signal to a BLAS thread: Pool.terminate() hung)."""

from __future__ import annotations

import signal
from pathlib import Path

import tracker
from tracker.run import lifecycle


def test_the_handler_goes_when_the_last_run_finishes(db_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    first = tracker.init("p", db=db_path)
    assert signal.getsignal(signal.SIGTERM) is lifecycle._on_sigterm
    second = tracker.init("p", db=db_path)
    first.finish()
    assert signal.getsignal(signal.SIGTERM) is lifecycle._on_sigterm  # one run still open
    second.finish()
    assert signal.getsignal(signal.SIGTERM) is before
    with tracker.init("p", db=db_path):  # and comes back with the next run
        assert signal.getsignal(signal.SIGTERM) is lifecycle._on_sigterm
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_handler_set_after_ours_is_left_alone(db_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)

    def mine(signum: int, frame: object) -> None:
        pass

    try:
        run = tracker.init("p", db=db_path)
        signal.signal(signal.SIGTERM, mine)
        run.finish()
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, before)
