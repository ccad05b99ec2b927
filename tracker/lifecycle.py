"""Process-wide hooks that close runs at interpreter exit and on SIGTERM, so no data is lost."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import weakref
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .run import Run

_active: weakref.WeakSet[Run] = weakref.WeakSet()
_installed = False
_exit_status = "finished"  # becomes failed/killed when an exception ends the program
_previous_sigterm: Any = None
_in_signal_handler = False


def in_signal_handler() -> bool:
    """Whether the runs are being flushed or finished from the SIGTERM handler, which may have
    interrupted the training code anywhere (in the middle of a forward or backward pass)."""
    return _in_signal_handler


def register(run: Run) -> None:
    """Track an open run; install the exit and signal hooks on first use."""
    global _installed
    _active.add(run)
    if not _installed:
        _installed = True
        atexit.register(_at_exit)
        _wrap_excepthook()
        _install_sigterm()


def unregister(run: Run) -> None:
    """Forget a run that has finished."""
    _active.discard(run)


def _at_exit() -> None:
    for run in list(_active):
        run.finish(status=_exit_status)


def _wrap_excepthook() -> None:
    previous = sys.excepthook

    def hook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        global _exit_status
        _exit_status = "killed" if issubclass(exc_type, KeyboardInterrupt) else "failed"
        previous(exc_type, exc, tb)

    sys.excepthook = hook


def _install_sigterm() -> None:
    global _previous_sigterm
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread
    try:
        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_IGN:
            return
        _previous_sigterm = previous
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _in_signal_handler
    previous = _previous_sigterm
    _in_signal_handler = True
    try:
        if callable(previous):
            # Someone else (a launcher, Lightning) decides whether the process ends: just flush.
            for run in list(_active):
                run.flush()
        else:
            for run in list(_active):
                run.finish(status="killed")
    finally:
        _in_signal_handler = False
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
