"""A profiler window over a range of training steps (TensorFlow or JAX profiler) -> tracker.Profile.

The profiler writes ``<tmp>/plugins/profile/<session>/<host>.xplane.pb``; we keep those bytes as
the raw trace (the TensorBoard exporter lays them out again), parse the top ops from them with
``hooks.xplane`` (no TensorFlow needed) and delete the directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...profile import Profile

# TensorFlow's C++ INFO lines ("I0000 00:00:17.. 123 profiler_session.cc:117] ...") and absl's
# preamble: what the profiler prints on start/stop. Warnings and errors are passed through.
_TF_INFO = re.compile(rb"^(I\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+:\d+\]|WARNING: All log messages before)")


class ProfilerWindow:
    """Profiles steps ``first..last`` (inclusive) of a loop with the TF or JAX profiler.

    Call ``step_begin(step)`` before every step (it starts, annotates and stops the profiler and
    returns the finished ``Profile`` once the window is past) and ``close()`` when the loop ends.
    """

    def __init__(self, framework: str, first: int, last: int, *, name: str = "train") -> None:
        if framework not in ("tensorflow", "jax"):
            raise ValueError(f"profiling needs the tensorflow or jax backend, not {framework!r}")
        first, last = check_window((first, last))
        self.framework = framework
        self.first, self.last = first, last
        self.name = name
        self.done = False
        self._dir: str | None = None
        self._annotation: Any = None
        self._started_ns = 0
        self._steps: list[int] = []

    @property
    def active(self) -> bool:
        """True while the profiler runs."""
        return self._dir is not None

    def step_begin(self, step: int) -> Profile | None:
        """Mark the start of ``step``; returns the Profile when this step ends the window."""
        if self.done:
            return None
        self._end_annotation()
        if self.active and step > self.last:
            return self.close()
        if not self.active and self.first <= step <= self.last:
            self._start()
        if self.active:
            self._steps.append(step)
            self._annotation = self._step_annotation(step)
            self._annotation.__enter__()
        return None

    def close(self) -> Profile | None:
        """Stop the profiler if it runs and return what it captured (None when it never ran)."""
        self._end_annotation()
        if not self.active:
            return None
        self.done = True
        logdir, self._dir = self._dir, None
        assert logdir is not None
        try:
            duration = time.perf_counter_ns() - self._started_ns
            with quiet_tf_info():
                if self.framework == "tensorflow":
                    import tensorflow as tf

                    tf.profiler.experimental.stop()
                else:
                    import jax

                    jax.profiler.stop_trace()
            return self._profile(logdir, duration)
        finally:
            shutil.rmtree(logdir, ignore_errors=True)

    def _start(self) -> None:
        logdir = tempfile.mkdtemp(prefix="tracker-profile-")
        try:
            with quiet_tf_info():
                if self.framework == "tensorflow":
                    import tensorflow as tf

                    options = tf.profiler.experimental.ProfilerOptions(
                        host_tracer_level=2, python_tracer_level=0, device_tracer_level=1
                    )
                    tf.profiler.experimental.start(logdir, options=options)
                else:
                    import jax

                    jax.profiler.start_trace(logdir)
        except BaseException:
            self.done = True  # another profiler is running (a TensorBoard callback): give up
            shutil.rmtree(logdir, ignore_errors=True)
            raise
        self._dir = logdir
        self._started_ns = time.perf_counter_ns()

    def _step_annotation(self, step: int) -> Any:
        if self.framework == "tensorflow":
            import tensorflow as tf

            return tf.profiler.experimental.Trace(self.name, step_num=step, _r=1)
        import jax

        return jax.profiler.StepTraceAnnotation(self.name, step_num=step)

    def _end_annotation(self) -> None:
        if self._annotation is not None:
            annotation, self._annotation = self._annotation, None
            annotation.__exit__(None, None, None)

    def _profile(self, logdir: str, duration_ns: int) -> Profile:
        files = sorted(Path(logdir).glob("plugins/profile/*/*.xplane.pb"))
        if not files:
            raise RuntimeError(f"the {self.framework} profiler wrote no xplane.pb")
        from .xplane import parse_xplane

        data = files[-1].read_bytes()
        ops, step_times = parse_xplane(data)
        steps = self._steps
        return Profile(
            ops=ops,
            step_times_ns=step_times,
            name=f"{self.name} steps {steps[0]}-{steps[-1]}",
            framework=self.framework,
            step_from=steps[0],
            step_to=steps[-1],
            duration_ns=float(duration_ns),
            trace=data,
            trace_format="xplane",
            trace_name=files[-1].name[: -len(".xplane.pb")],
            meta={"profiler": self.framework, "steps": len(steps)},
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


@contextlib.contextmanager
def quiet_tf_info() -> Iterator[None]:
    """Drop TensorFlow's C++ INFO lines written to stderr inside the block; pass the rest on.

    They are written by C++ straight to file descriptor 2, so only swapping that descriptor
    catches them; it is swapped for the few milliseconds of a profiler start or stop only.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreters): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [line for line in sink.read().splitlines(keepends=True)
                    if not _TF_INFO.match(line)]
            if kept:
                os.write(2, b"".join(kept))
