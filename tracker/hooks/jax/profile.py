"""``tj.profile``: a ``jax.profiler`` window over a few training steps, stored with the run.

The capture itself (start, step annotations, stop, the xplane read into a ``tracker.Profile``) is
the shared ``ProfilerWindow``; this adds what ``tj.profile`` offers: a ``with`` block, a window
that starts at step ``start`` of a loop and closes after ``steps`` annotated steps, and storing
the result. A profiler failure (another trace already running, an unreadable capture) warns and
never stops training.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import TracebackType
from typing import Any

from ...contract import RunLike
from ...notices import warn
from ...profile import Profile
from .._shared.messages import describe
from .._shared.profile_window import ProfilerWindow


class _Step:
    """One annotated step: the profiler's step annotation plus the window's step count."""

    __slots__ = ("_owner", "_annotation")

    def __init__(self, owner: JaxProfile, step: int) -> None:
        self._owner = owner
        self._annotation = owner._window.annotate(step)

    def __enter__(self) -> None:
        self._annotation.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._annotation.__exit__(*exc)
        self._owner._step_done()


class JaxProfile:
    """Profiles a window of steps; create it with ``tracker.hooks.jax.profile``.

    As a context manager the window is the ``with`` block (or its first ``steps`` annotated
    steps). In a loop, ``with prof.step(i):`` starts the trace at step ``start`` and stops it
    after ``steps`` steps; outside the window ``step()`` costs one comparison.
    """

    def __init__(
        self,
        run: RunLike,
        steps: int | None = None,
        *,
        start: int | None = None,
        name: str = "profile",
        logdir: str | Path | None = None,
        python_tracer: bool = False,
        step_name: str = "train",
    ) -> None:
        if steps is not None and (not isinstance(steps, int) or steps < 1):
            raise ValueError(f"steps must be a positive integer or None, not {steps!r}")
        self.run, self.steps, self.start, self.name = run, steps, start, name
        self.step_name = step_name
        self.python_tracer = python_tracer
        self.profile: Profile | None = None  # the stored profile, once the window has closed
        self._window = ProfilerWindow("jax", name=name, step_name=step_name, logdir=logdir,
                                      python_tracer=python_tracer)
        self._window.done = run.disabled  # DDP ranks that log nothing profile nothing
        self._count = 0

    # -- the window -------------------------------------------------------------------------------
    def __enter__(self) -> JaxProfile:
        self.begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end()

    def step(self, step: int) -> contextlib.AbstractContextManager[None]:
        """Annotate one training step (a context manager); starts the window at ``start``."""
        window = self._window
        if not window.active:
            if window.done or self.start is None or step < self.start:
                return contextlib.nullcontext()
            self.begin()
            if not window.active:
                return contextlib.nullcontext()
        return _Step(self, step)

    def begin(self) -> None:
        """Start tracing (a no-op once the window has run, or when a trace is already running)."""
        window = self._window
        if window.active or window.done:
            return
        try:
            window.start()
        except Exception as exc:  # e.g. "Profile has already been started"
            warn(f"profile {self.name!r} skipped: {describe(exc, 300)}")

    def end(self) -> Profile | None:
        """Stop tracing, parse the capture and store it with the run; returns the Profile."""
        if not self._window.active:
            return self.profile
        try:
            self.profile = self._window.close()
            if self.profile is not None:
                self.run.log_profile(self.profile)
        except Exception as exc:
            warn(f"profile {self.name!r} not stored: {describe(exc, 300)}")
        return self.profile

    def _step_done(self) -> None:
        self._count += 1
        if self.steps is not None and self._count >= self.steps:
            self.end()
