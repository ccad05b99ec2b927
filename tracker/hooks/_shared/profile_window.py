"""A TensorFlow or JAX profiler window over some training steps, read into a ``tracker.Profile``.

The profiler writes ``<logdir>/plugins/profile/<session>/<host>.xplane.pb``; its bytes are kept as
the profile's raw trace (the store compresses it, the TensorBoard exporter lays it out again),
``parse_xplane`` turns them into the top-ops table and step times (no TensorFlow needed), and a
temporary logdir is deleted. The one window behind the Keras callback (``profile_batches``),
``TFLogger`` (``profile_steps``) and ``tracker.hooks.jax.profile``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ...profile import Profile
from .native_noise import quiet_native_noise
from .xplane import parse_xplane

FRAMEWORKS = ("tensorflow", "jax")


class ProfilerWindow:
    """Profiles training steps with the TensorFlow or JAX profiler.

    Driven by steps ``first..last`` (inclusive): call ``step_begin(step)`` before every step; it
    starts the profiler at ``first``, annotates each step, and returns the finished ``Profile`` at
    the first step past ``last``; ``close()`` ends a window the loop left inside. Or by hand:
    ``start()``, ``annotate(step)`` around each step, ``close()``.

    Starting raises when the profiler cannot start (another one is running, such as Keras's
    ``TensorBoard(profile_batch=...)``); the window is then done. On JAX the window waits for
    the device before it starts and before it stops (dispatch is asynchronous), so it holds
    exactly its steps. The profiler's native INFO lines are kept out of the terminal.

    Args:
        framework: "tensorflow" or "jax".
        first, last: the steps ``step_begin`` profiles (None when driven by hand).
        name: the profile's name; default "<step_name> steps <first>-<last>".
        step_name: the name of the step annotations.
        logdir: keep the raw capture there (default: a temporary directory, removed after).
        python_tracer: trace Python calls as well (larger, slower captures).
    """

    def __init__(
        self,
        framework: str,
        first: int | None = None,
        last: int | None = None,
        *,
        name: str | None = None,
        step_name: str = "train",
        logdir: str | Path | None = None,
        python_tracer: bool = False,
    ) -> None:
        if framework not in FRAMEWORKS:
            raise ValueError(f"profiling needs the tensorflow or jax backend, not {framework!r}")
        if first is not None or last is not None:
            first, last = check_window((first, last))
        self.framework = framework
        self.first, self.last = first, last
        self.name, self.step_name = name, step_name
        self.python_tracer = python_tracer
        self.done = False
        self._logdir = Path(logdir) if logdir is not None else None
        self._dir: Path | None = None  # the logdir in use while the profiler runs
        self._tmp: str | None = None  # a temporary logdir, removed when the window ends
        self._before: set[Path] = set()  # sessions already in the logdir
        self._annotation: Any = None  # step_begin's open step annotation
        self._started_ns = 0
        self._steps: list[int] = []  # the annotated steps

    @property
    def active(self) -> bool:
        """True while the profiler runs."""
        return self._dir is not None

    # -- driven by steps ----------------------------------------------------------------------------
    def step_begin(self, step: int) -> Profile | None:
        """Mark the start of ``step``; returns the Profile when this step ends the window."""
        if self.done:
            return None
        self._end_annotation()
        if self.active and self.last is not None and step > self.last:
            return self.close()
        if not self.active and self.first is not None and self.last is not None \
                and self.first <= step <= self.last:
            self.start()
        if self.active:
            self._annotation = self.annotate(step)
            self._annotation.__enter__()
        return None

    # -- driven by hand -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the profiler (a no-op while it runs or once the window is done)."""
        if self.active or self.done:
            return
        if self._logdir is None:
            self._tmp = tempfile.mkdtemp(prefix="tracker-profile-")
            logdir = Path(self._tmp)
        else:
            logdir = self._logdir
        self._before = set(logdir.glob("plugins/profile/*"))
        try:
            if self.framework == "jax":
                _wait_for_jax()  # earlier steps still running would leak into the window
            with quiet_native_noise():
                self._start_profiler(str(logdir))
        except BaseException:
            self.done = True
            self._remove_tmp()
            raise
        self._dir = logdir
        self._started_ns = time.perf_counter_ns()

    def annotate(self, step: int) -> AbstractContextManager[Any]:
        """The profiler's annotation of ``step``, to enter around the step (counted as profiled)."""
        self._steps.append(step)
        if self.framework == "tensorflow":
            import tensorflow as tf

            return tf.profiler.experimental.Trace(self.step_name, step_num=step, _r=1)
        import jax

        return jax.profiler.StepTraceAnnotation(self.step_name, step_num=step)

    def close(self) -> Profile | None:
        """Stop the profiler if it runs and return what it captured (None when it never ran).

        Raises when the capture cannot be read; the window is done either way.
        """
        self._end_annotation()
        if self._dir is None:
            return None
        self.done = True
        logdir, self._dir = self._dir, None
        try:
            if self.framework == "jax":
                _wait_for_jax()  # the window's work must land inside the trace
            with quiet_native_noise():
                self._stop_profiler()
            return self._profile(logdir, time.perf_counter_ns() - self._started_ns)
        finally:
            self._remove_tmp()

    # -- the profiler and its capture ---------------------------------------------------------------
    def _start_profiler(self, logdir: str) -> None:
        tracer_level = 1 if self.python_tracer else 0
        if self.framework == "tensorflow":
            import tensorflow as tf

            options = tf.profiler.experimental.ProfilerOptions(
                host_tracer_level=2, python_tracer_level=tracer_level, device_tracer_level=1
            )
            tf.profiler.experimental.start(logdir, options=options)
        else:
            import jax

            jax_options = jax.profiler.ProfileOptions()
            jax_options.python_tracer_level = tracer_level
            jax.profiler.start_trace(logdir, profiler_options=jax_options)

    def _stop_profiler(self) -> None:
        if self.framework == "tensorflow":
            import tensorflow as tf

            tf.profiler.experimental.stop()
        else:
            import jax

            jax.profiler.stop_trace()

    def _end_annotation(self) -> None:
        if self._annotation is not None:
            annotation, self._annotation = self._annotation, None
            annotation.__exit__(None, None, None)

    def _remove_tmp(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _profile(self, logdir: Path, duration_ns: int) -> Profile:
        sessions = sorted(set(logdir.glob("plugins/profile/*")) - self._before)
        files = sorted(sessions[-1].glob("*.xplane.pb")) if sessions else []
        if not files:
            raise RuntimeError(f"the {self.framework} profiler wrote no xplane.pb")
        data = files[0].read_bytes()
        ops, step_times = parse_xplane(data)
        steps = sorted({*self._steps, *(step for step, _ in step_times)})
        name = self.name
        if name is None:
            name = f"{self.step_name} steps {steps[0]}-{steps[-1]}" if steps else self.step_name
        meta: dict[str, Any] = {"profiler": self.framework, "steps": len(self._steps),
                                "session": sessions[-1].name, "hosts": len(files)}
        if self.framework == "jax":
            import jax

            meta.update({
                "jax_version": jax.__version__,
                "backend": jax.default_backend(),
                "devices": sorted({d.device_kind for d in jax.devices()}),
            })
        return Profile(
            ops=ops,
            step_times_ns=step_times,
            name=name,
            framework=self.framework,
            step_from=steps[0] if steps else None,
            step_to=steps[-1] if steps else None,
            duration_ns=float(duration_ns),
            trace=data,
            trace_format="xplane",
            trace_name=files[0].name.removesuffix(".xplane.pb"),
            meta=meta,
        )


def check_window(steps: Any) -> tuple[int, int]:
    """Validate a ``(first, last)`` pair of steps to profile; raise a message that shows one."""
    try:
        first, last = steps
    except (TypeError, ValueError):
        first = last = None
    if not (type(first) is int and type(last) is int) or not 0 <= first <= last:
        raise ValueError(
            f"profile steps must be (first, last) with 0 <= first <= last, such as (20, 25);"
            f" got {steps!r}"
        )
    return first, last


def _wait_for_jax() -> None:
    import jax

    try:
        jax.block_until_ready(jax.live_arrays())
    except Exception:  # an array deleted meanwhile: what remains has been waited on enough
        jax.effects_barrier()
