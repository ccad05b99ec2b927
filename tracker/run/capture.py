"""What ``tracker.init()`` starts beside a run: system metrics and console capture, stopped with it.

The engines live in ``tracker.capture``; this module connects them to one run. System samples are
logged as ordinary scalar series under ``sys/`` at the run's current step (``Run.log_sample``,
which never waits); console lines go to the run's writer as ``console`` records, one per batch the
capture hands over. Both stop in the run's finish (at ``finish()``, at exit and on SIGTERM: the
run's lifecycle calls it), before its last write, so the last lines and samples are stored and
fds 1/2 are restored by the time ``finish()`` returns. A forked child inherits neither (the
engines leave the parent's capture to the parent); a ``DisabledRun`` (DDP ranks other than 0)
starts neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..capture.console import ConsoleCapture, ConsoleLine
    from ..capture.system import SystemSampler
    from .run import Run

# What init() does when system=/console= are not given. The test suite turns both off for its
# in-process runs (a sampler adding sys/ keys at random moments would make their key lists
# depend on timing); subprocess tests and the capture tests see the real default.
DEFAULT_SYSTEM = True
DEFAULT_CONSOLE = True


class RunCapture:
    """The engines started for one run; ``stop()`` ends them (safe twice, from a signal handler)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.sampler: SystemSampler | None = None
        self.console: ConsoleCapture | None = None

    def start(self, *, system: bool, console: bool, system_interval: float,
              console_max_bytes: int) -> None:
        if system:
            from ..capture.system import SystemSampler

            self.sampler = SystemSampler(self._sample, interval=system_interval)
        if console:
            from ..capture.console import ConsoleCapture

            self.console = ConsoleCapture(self._lines, step_getter=self._step,
                                          max_bytes=console_max_bytes)
        self.run.add_flush_hook(self._on_flush)
        try:
            if self.sampler is not None:
                _import_sensors()
                self.sampler.start()
            if self.console is not None and not self.console.start():
                self.console = None  # it said why
        except Exception as err:  # noqa: BLE001 - capture is a side line: never stop the run
            from .. import notices

            notices.warn_once("capture-start", f"system metrics or console capture could not "
                              f"start ({err!r}); the run goes on without them")

    def stop(self) -> None:
        """Stop both; every line printed before this call has reached the run's writer."""
        if self.sampler is not None:
            self.sampler.stop()
        if self.console is not None:
            self.console.stop()

    def _on_flush(self) -> None:
        if self.run.finishing:  # the run's end (finish, exit, SIGTERM): not a plain flush
            self.stop()

    def _sample(self, values: dict[str, float]) -> None:
        self.run.log_sample(values)

    def _lines(self, lines: list[ConsoleLine]) -> None:
        self.run.log_console([(ln.stream, ln.time, ln.step, ln.text) for ln in lines])

    def _step(self) -> int | None:
        return self.run.step


def _import_sensors() -> None:
    """Import psutil (and pynvml where a driver is present) here, on the caller's thread, once
    (about 20 ms). Left to the sampler thread, an import can still run while the program exits:
    CPython then forgets that an uncaught KeyboardInterrupt ended it, and the exit status is 1
    instead of the 130 a shell expects of Ctrl-C (tested in tests/test_exit_status.py)."""
    import importlib

    from ..capture import nvml

    for name in ("psutil", "pynvml") if nvml.driver_present() else ("psutil",):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - missing or broken: the sampler says so itself
            pass


def start(run: Run, *, system: bool | None, console: bool | None, system_interval: float,
          console_max_bytes: int | None) -> RunCapture:
    """Start what the options ask for (None: the default) beside ``run``."""
    from ..capture.console import DEFAULT_MAX_BYTES

    capture = RunCapture(run)
    capture.start(
        system=DEFAULT_SYSTEM if system is None else bool(system),
        console=DEFAULT_CONSOLE if console is None else bool(console),
        system_interval=system_interval,
        console_max_bytes=DEFAULT_MAX_BYTES if console_max_bytes is None else console_max_bytes,
    )
    return capture


def check_options(system_interval: Any, console_max_bytes: Any) -> None:
    """Raise a one-line error for a bad interval or cap, before a run is created."""
    if isinstance(system_interval, bool) or not isinstance(system_interval, (int, float)) \
            or not 0 < system_interval < float("inf"):
        raise ValueError(f"system_interval must be a positive number of seconds, "
                         f"not {system_interval!r}")
    if console_max_bytes is not None and (isinstance(console_max_bytes, bool)
                                          or not isinstance(console_max_bytes, int)
                                          or console_max_bytes < 0):
        raise ValueError(f"console_max_bytes must be a number of bytes (0 or more), "
                         f"not {console_max_bytes!r}")
