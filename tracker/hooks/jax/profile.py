"""A ``jax.profiler`` window over a few training steps, stored as a ``tracker.Profile``.

The profiler writes ``<logdir>/plugins/profile/<session>/<host>.xplane.pb``; its bytes are kept as
the profile's raw trace (the store compresses it, the TensorBoard exporter lays it out again) and
``parse_xplane`` turns them into the top-ops table and step times. A profiler failure (another
trace already running, an unreadable capture) warns and never stops training.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

import jax

from ...profile import Profile
from .._shared.xplane import parse_xplane


class _Step:
    """One annotated step: ``jax.profiler.StepTraceAnnotation`` plus the window's step count."""

    __slots__ = ("_owner", "_step", "_annotation")

    def __init__(self, owner: JaxProfile, step: int) -> None:
        self._owner, self._step = owner, step
        self._annotation = jax.profiler.StepTraceAnnotation(owner.step_name, step_num=step)

    def __enter__(self) -> None:
        self._annotation.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._annotation.__exit__(*exc)
        self._owner._step_done(self._step)


class JaxProfile:
    """Profiles a window of steps; create it with ``tracker.hooks.jax.profile``.

    As a context manager the window is the ``with`` block (or its first ``steps`` annotated
    steps). In a loop, ``with prof.step(i):`` starts the trace at step ``start`` and stops it
    after ``steps`` steps; outside the window ``step()`` costs one comparison.
    """

    def __init__(
        self,
        run: Any,
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
        self._logdir = Path(logdir) if logdir is not None else None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._active = False
        self._done = bool(getattr(run, "disabled", False))  # DDP ranks that log nothing
        self._count = 0
        self._annotated: list[int] = []
        self._t0 = 0
        self._dir = Path()
        self._before: set[Path] = set()

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
        if not self._active:
            if self._done or self.start is None or step < self.start:
                return contextlib.nullcontext()
            self.begin()
            if not self._active:
                return contextlib.nullcontext()
        return _Step(self, step)

    def begin(self) -> None:
        """Start tracing (a no-op once the window has run, or when a trace is already running)."""
        if self._active or self._done:
            return
        if self._logdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tracker-jax-profile-")
            logdir = Path(self._tmp.name)
        else:
            logdir = self._logdir
        self._before = set(logdir.glob("plugins/profile/*"))
        self._dir = logdir
        options = jax.profiler.ProfileOptions()
        options.python_tracer_level = 1 if self.python_tracer else 0
        _wait_for_device()  # earlier steps still running would leak into the window
        try:
            jax.profiler.start_trace(str(logdir), profiler_options=options)
        except Exception as exc:  # e.g. "Profile has already been started"
            self._done = True
            self._cleanup()
            _warn(f"profile {self.name!r} skipped: {_first_line(exc)}")
            return
        self._active = True
        self._t0 = time.perf_counter_ns()

    def end(self) -> Profile | None:
        """Stop tracing, parse the capture and store it with the run; returns the Profile."""
        if not self._active:
            return self.profile
        self._active, self._done = False, True
        try:
            _wait_for_device()  # dispatch is async: the window's work must land inside the trace
            jax.profiler.stop_trace()
            duration = time.perf_counter_ns() - self._t0
            self.profile = self._build(duration)
            self.run.log_profile(self.profile)
        except Exception as exc:
            _warn(f"profile {self.name!r} not stored: {_first_line(exc)}")
        finally:
            self._cleanup()
        return self.profile

    def _step_done(self, step: int) -> None:
        self._annotated.append(step)
        self._count += 1
        if self.steps is not None and self._count >= self.steps:
            self.end()

    # -- the capture ------------------------------------------------------------------------------
    def _build(self, duration_ns: int) -> Profile:
        sessions = sorted(set(self._dir.glob("plugins/profile/*")) - self._before)
        files = sorted(sessions[-1].glob("*.xplane.pb")) if sessions else []
        if not files:
            raise FileNotFoundError(f"the profiler wrote no xplane.pb under {self._dir}")
        data = files[0].read_bytes()
        ops, step_times = parse_xplane(data)
        steps = [s for s, _ in step_times] or self._annotated
        return Profile(
            ops=ops,
            step_times_ns=step_times,
            name=self.name,
            framework="jax",
            step_from=min(steps) if steps else None,
            step_to=max(steps) if steps else None,
            duration_ns=float(duration_ns),
            trace=data,
            trace_format="xplane",
            trace_name=files[0].name.removesuffix(".xplane.pb"),
            meta={
                "session": sessions[-1].name,
                "jax_version": jax.__version__,
                "backend": jax.default_backend(),
                "devices": sorted({d.device_kind for d in jax.devices()}),
                "hosts": len(files),
            },
        )

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _wait_for_device() -> None:
    try:
        jax.block_until_ready(jax.live_arrays())
    except Exception:  # an array deleted meanwhile: what remains has been waited on enough
        jax.effects_barrier()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _warn(message: str) -> None:
    warnings.warn(f"tracker: {message}", RuntimeWarning, stacklevel=3)
