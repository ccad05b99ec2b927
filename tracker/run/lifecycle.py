"""Process-wide hooks that close runs at interpreter exit, on SIGTERM and across forks, so no data is
lost and each run's status says how its process ended.

Status: an exit with code 0 is ``finished``, a non-zero code (or an uncaught exception) ``failed``,
a signal (SIGTERM, Ctrl-C, or an exit code 128+n that a launcher's handler gives for one) ``killed``.
Python tells exit hooks no exit code, so ``sys.exit`` is wrapped to remember it (a bare
``raise SystemExit(n)`` outside a ``with`` block is not seen, and counts as finished).

SIGTERM: the handler runs on the main thread, wherever it was. When that is inside ``finish()``,
``flush()`` or a run's start (``critical()``), it waits for that to complete and then acts; it
never waits on a lock its own thread holds (``log()`` holds none).

Fork: a child of ``os.fork()`` (a DataLoader worker) gets the runs without their writers: it logs
into the same run through its own writer, opened on first use, and never writes or finishes the
parent's (``Run._after_fork``).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import weakref
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from .run import Run

_active: weakref.WeakSet[Run] = weakref.WeakSet()
_installed = False
_exit_status: str | None = None  # failed/killed when an uncaught exception ends the program
_exit_code: Any = None  # what sys.exit() was last called with on the main thread
_signalled = False  # a SIGTERM arrived and a launcher's handler ended the process on it
_previous_sigterm: Any = None
_in_signal_handler = False
_critical = 0  # depth of critical() sections on the main thread
_pending_signal: tuple[int, FrameType | None] | None = None
# exit codes a launcher's handler gives when a signal ends the process (128 + n)
_SIGNAL_CODES = {128 + s for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGKILL)}


def in_signal_handler() -> bool:
    """Whether the runs are being flushed or finished from the SIGTERM handler, which may have
    interrupted the training code anywhere (in the middle of a forward or backward pass)."""
    return _in_signal_handler


def register(run: Run) -> None:
    """Track an open run; install the exit, signal and fork hooks on first use (the SIGTERM
    handler: while a run is open)."""
    global _installed
    _active.add(run)
    if not _installed:
        _installed = True
        atexit.register(_at_exit)
        _wrap_excepthook()
        _wrap_sys_exit()
        os.register_at_fork(after_in_child=_after_fork_in_child)
    _install_sigterm()


def unregister(run: Run) -> None:
    """Forget a run that has finished; with no run open, give SIGTERM back to the handler it
    had. A Python handler left behind made a process whose main thread waits in C (a
    multiprocessing Pool worker waiting for its next task) unkillable by SIGTERM whenever the
    kernel handed the signal to another thread (numpy's BLAS threads): Pool.terminate() hung."""
    _active.discard(run)
    if not _active:
        _restore_sigterm()


def status_for_exit(exc: BaseException | None) -> str:
    """The status a run ends with when ``exc`` (None: no exception) ends its ``with`` block."""
    if _signalled:
        return "killed"
    if exc is None:
        return "finished"
    if isinstance(exc, SystemExit):
        return _status_for_code(exc.code)
    return "killed" if isinstance(exc, KeyboardInterrupt) else "failed"


def _status_for_code(code: Any) -> str:
    if code is None or code == 0:
        return "finished"
    if isinstance(code, int) and code in _SIGNAL_CODES:
        return "killed"
    return "failed"  # a non-zero code, or a message (Python prints it and exits with 1)


class critical:  # noqa: N801 - used as ``with lifecycle.critical():``
    """A section of the main thread that a SIGTERM handler must not re-enter (a run's start,
    flush or finish): the handler runs when it ends. No effect on other threads."""

    __slots__ = ("main",)

    def __enter__(self) -> None:
        global _critical
        self.main = threading.get_ident() == threading.main_thread().ident
        if self.main:
            _critical += 1

    def __exit__(self, *exc: object) -> None:
        global _critical, _pending_signal
        if self.main:
            _critical -= 1
            if _critical == 0 and _pending_signal is not None:
                pending, _pending_signal = _pending_signal, None
                _on_sigterm(*pending)


def _at_exit() -> None:
    status = _final_status()
    for run in list(_active):
        run.finish(status=status)


def _final_status() -> str:
    if _signalled:
        return "killed"
    if _exit_status is not None:
        return _exit_status
    return _status_for_code(_exit_code)


def _wrap_excepthook() -> None:
    previous = sys.excepthook

    def hook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        global _exit_status
        _exit_status = "killed" if issubclass(exc_type, KeyboardInterrupt) else "failed"
        previous(exc_type, exc, tb)

    sys.excepthook = hook


def _wrap_sys_exit() -> None:
    original = sys.exit

    def exit(status: str | int | None = None) -> NoReturn:  # noqa: A001 - it is sys.exit
        global _exit_code
        if threading.current_thread() is threading.main_thread():
            _exit_code = status
        original(status)

    exit.__doc__ = original.__doc__
    sys.exit = exit


def _install_sigterm() -> None:
    global _previous_sigterm
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread
    try:
        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_IGN or previous is _on_sigterm:
            return
        _previous_sigterm = previous
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        pass


def _restore_sigterm() -> None:
    """Put back the SIGTERM handler from before ours (only ours: one set since stays)."""
    if threading.current_thread() is not threading.main_thread() or _in_signal_handler:
        return
    try:
        if signal.getsignal(signal.SIGTERM) is _on_sigterm and _previous_sigterm is not None:
            signal.signal(signal.SIGTERM, _previous_sigterm)
    except (ValueError, OSError, TypeError):
        pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _in_signal_handler, _pending_signal, _signalled
    if _critical > 0:  # inside a run's start, flush or finish: act once that is done
        _pending_signal = (signum, frame)
        return
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
        _signalled = True  # if it ends the process (sys.exit(143)), the runs were killed
        previous(signum, frame)
        _signalled = False  # it let the process go on
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _after_fork_in_child() -> None:
    global _active, _critical, _pending_signal, _exit_code, _exit_status
    inherited = list(_active)
    _active = weakref.WeakSet()
    _critical, _pending_signal, _exit_code, _exit_status = 0, None, None, None
    for run in inherited:
        run._after_fork()
