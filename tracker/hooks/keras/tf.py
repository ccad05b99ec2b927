"""Plain TensorFlow hook: ``TFLogger`` for custom ``tf.GradientTape`` loops.

Usage::

    logger = TFLogger(run, log_every=10, profile_steps=(20, 25))
    for step, (x, y) in enumerate(dataset):
        logger.begin_step(step)                      # only needed for profile_steps
        loss = train_step(x, y)                      # a tf.function returning tf.Tensors
        logger.log({"loss": loss, "lr": optimizer.learning_rate}, step)
    logger.close()

``log`` takes ``tf.Tensor``/``tf.Variable`` values as they are: the run keeps them as handles and
reads them on its writer thread, so the loop never waits for a value (no ``.numpy()`` per step).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from ...contract import RunLike
from ...notices import Once
from .._shared.profile_window import ProfilerWindow, check_window
from .._shared.run import run_or_current
from .graph import graph_from_graphdef

__all__ = ["TFLogger"]


class TFLogger:
    """Logs a hand-written TensorFlow training loop into a tracker run.

    Args:
        run: the run to log into; default the current run (``tracker.init()``).
        log_every: keep one step in this many (the others are not even looked at).
        profile_steps: ``(first, last)`` steps to run the TensorFlow profiler over; call
            ``begin_step(step)`` at the top of each step and ``close()`` after the loop.
    """

    def __init__(
        self,
        run: RunLike | None = None,
        *,
        log_every: int = 1,
        profile_steps: tuple[int, int] | None = None,
    ) -> None:
        self.run = run_or_current(run, "TFLogger")
        if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
            raise ValueError(f"log_every must be an integer >= 1, not {log_every!r}")
        self.log_every = log_every
        self._profiler = (
            ProfilerWindow("tensorflow", *check_window(profile_steps))
            if profile_steps is not None else None
        )
        self._notices = Once()  # each kind of failure is said once per logger

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        """Log scalars (tf.Tensor, tf.Variable or numbers) at ``step`` if it is a logged step."""
        if step % self.log_every == 0:
            tf = sys.modules["tensorflow"]
            kinds = (float, tf.Tensor, tf.Variable)
            if not all(isinstance(v, kinds) for v in metrics.values()):
                metrics = {k: _unwrap(v, kinds) for k, v in metrics.items()}
            self.run.log(metrics, step)

    def begin_step(self, step: int) -> None:
        """Mark the start of ``step`` (drives the profiler window; cheap otherwise)."""
        profiler = self._profiler
        if profiler is None or profiler.done:
            return
        try:
            profile = profiler.step_begin(step)
        except Exception as exc:  # another profiler is running: warn once, keep training
            self._warn("profile", f"could not profile: {type(exc).__name__}: {exc}")
            return
        if profile is not None:
            self.run.log_profile(profile)

    def close(self) -> None:
        """Stop the profiler if the loop ended inside its window, and store what it captured."""
        if self._profiler is not None and self._profiler.active:
            try:
                profile = self._profiler.close()
            except Exception as exc:
                self._warn("profile", f"could not profile: {type(exc).__name__}: {exc}")
                return
            if profile is not None:
                self.run.log_profile(profile)

    def log_histograms(
        self, variables: Iterable[Any], step: int, *, prefix: str = "weights/"
    ) -> None:
        """Log one histogram per variable (e.g. ``model.trainable_variables`` or gradients)."""
        for i, variable in enumerate(variables):
            if variable is None:  # a gradient tape gives None for unconnected variables
                continue
            name = str(getattr(variable, "path", None) or getattr(variable, "name", "") or i)
            self.run.log_histogram(prefix + name.split(":")[0], variable, step)

    def log_graph(self, fn: Any, *args: Any, name: str | None = None) -> None:
        """Store the op graph of a ``tf.function`` traced for ``args`` (tensors or TensorSpecs)."""
        import tensorflow as tf

        if not hasattr(fn, "get_concrete_function"):
            fn = tf.function(fn)
        graph_def = fn.get_concrete_function(*args).graph.as_graph_def()
        label = name or getattr(fn, "__name__", None) or "tf_function"
        self.run.log_graph(graph_from_graphdef(graph_def, name=str(label)))

    def __enter__(self) -> TFLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _warn(self, what: str, message: str) -> None:
        self._notices.warn(what, message)


def _unwrap(value: Any, kinds: tuple[type, ...]) -> Any:
    """A Keras 3 variable (``optimizer.learning_rate``) -> its tf.Variable, kept as a handle.

    Otherwise the run would call ``float()`` on it, a host read on the loop's thread.
    """
    inner = getattr(value, "value", None)
    return inner if isinstance(inner, kinds) else value
