"""Keras 3 hook: ``TrackerCallback`` logs metrics, config, weight histograms, graphs and profiles.

Usage::

    run = tracker.init(project="mnist-keras", config=cfg)
    model.fit(x, y, epochs=5, validation_data=(xv, yv),
              callbacks=[TrackerCallback(run, log_every=10, histograms=True,
                                         profile_batches=(20, 25))])

Works on every Keras backend; importing this module loads Keras (and so the user's backend) but
never TensorFlow on the JAX or torch backends.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import keras

from ...contract import RunLike
from ...notices import Once
from .._shared.profile_window import ProfilerWindow, check_window
from .._shared.run import run_or_current
from .config import fit_config, is_number
from .grads import BACKENDS as GRADIENT_BACKENDS
from .grads import sample_gradients
from .graph import layer_graph, op_graph

__all__ = ["TrackerCallback"]

# Batch metrics are gathered and handed to the run a few rows at a time: right after a training
# step has pushed our objects out of the CPU caches, one run.log() cost 7 µs where a run of them
# costs 1-2 µs each. A handover happens at least every GATHER_S of training (the batch count is
# fitted to the measured batch time), at epoch and fit ends, and at every run.flush()/finish()
# (exit and SIGTERM included), so gathering adds at most GATHER_S to what a hard kill can lose.
GATHER_S = 0.1
GATHER_MAX = 64


class TrackerCallback(keras.callbacks.Callback):
    """Logs a Keras ``fit()`` into a tracker run.

    Steps are training batches counted across epochs (0, 1, 2...), continuing after the run's last
    step. Keys: ``train/<metric>`` every ``log_every`` batches; ``epoch/<metric>`` and
    ``epoch/val_<metric>``, ``epoch/lr``, ``epoch/time_s`` and ``epoch`` at each epoch end.

    Args:
        run: the run to log into; default the current run (``tracker.init()``).
        log_every: log batch metrics every this many batches (0: epoch metrics only).
        histograms: log weight histograms per layer every N epochs (True: every epoch).
        gradient_sample: ``(x, y)``, a batch to compute gradient histograms on at the same
            epochs (TensorFlow and torch backends: one extra forward and backward pass each time).
        graph: store the layer graph once the model is built.
        op_graph: also store the traced op graph (TensorFlow backend only).
        op_graph_signature: the ``tf.TensorSpec`` input(s) for the op graph when the model has
            no ``inputs`` (subclassed models).
        profile_batches: ``(first, last)`` steps to run the TensorFlow/JAX profiler over.
    """

    # Keras may then run on_train_batch_end on a worker thread (JAX backend), where it converts
    # the logs to floats, so the training thread never waits for the device.
    async_safe = True

    def __init__(
        self,
        run: RunLike | None = None,
        *,
        log_every: int = 1,
        histograms: bool | int = False,
        gradient_sample: tuple[Any, Any] | None = None,
        graph: bool = True,
        op_graph: bool = False,
        op_graph_signature: Any = None,
        profile_batches: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.run = run_or_current(run, "TrackerCallback")
        if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 0:
            raise ValueError(f"log_every must be an integer >= 0, not {log_every!r}")
        if isinstance(histograms, bool):
            histograms = 1 if histograms else 0
        if not isinstance(histograms, int) or histograms < 0:
            raise ValueError(f"histograms must be True/False or every N epochs, not {histograms!r}")
        if profile_batches is not None:
            profile_batches = check_window(profile_batches)  # fail here, not inside fit()
        if self.run.disabled:  # a DDP rank that does not log: capture nothing
            histograms, graph, op_graph, profile_batches = 0, False, False, None
        # Measured: with Keras's async dispatch (JAX) the JAX profiler captured no XLA op events,
        # so a callback that profiles asks for synchronous callbacks instead.
        self.async_safe = profile_batches is None
        self.log_every = log_every
        self.histogram_every = histograms
        self.gradient_sample = gradient_sample
        self.want_graph = graph
        self.want_op_graph = op_graph
        self.op_graph_signature = op_graph_signature
        self.profile_batches = profile_batches
        # metric names -> ('train/<name>'..., all numbers): no string formatting per batch
        self._keys: dict[tuple[str, ...], tuple[tuple[str, ...], bool]] = {}
        self._base: int | None = None  # step of batch 0 of the current epoch
        self._last_batch = -1  # the highest batch ended in this epoch
        self._batch_lock = threading.Lock()  # batch ends may run on several Keras worker threads
        self._graph_done = False
        self._profiler: ProfilerWindow | None = None
        self._pending = True  # work left for on_train_batch_begin (graph, profile window)
        self._epoch_start = 0.0
        self._notices = Once()  # each kind of failure is said once per callback
        self._last_epoch_logs: dict[str, float] = {}
        self._rows: deque[tuple[int, dict[str, Any]]] = deque()  # gathered (step, logs)
        self._gather = 1  # rows to gather before a handover (fitted to the batch time)
        self._handed_at = 0.0

    # -- fit lifecycle (training thread) ----------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # the run hands our gathered rows over if fit() never ends normally
        self.run.add_flush_hook(self._hand_over)
        self._handed_at = time.perf_counter()  # batch time is measured from here
        if self._base is None:
            last = self.run.step
            self._base = 0 if last is None else last + 1
        self._guard("config", self._log_config)
        if self.want_graph and not self._graph_done and getattr(self.model, "built", False):
            self._guard("graph", self._log_graphs)
        if self.profile_batches is not None and self._profiler is None:
            backend = keras.backend.backend()
            if backend in ("tensorflow", "jax"):
                self._profiler = ProfilerWindow(backend, *self.profile_batches)
            else:
                self._warn("profile", f"profile_batches needs the tensorflow or jax backend, "
                                      f"not {backend}; no profile is taken")
        self._pending = True

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_start = time.perf_counter()
        self._last_batch = -1

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._pending:  # a profile window or a graph still to take: off the common path
            if self._profiler is not None and not self._profiler.done:
                self._guard("profile", self._profile_step, self._step(batch))
            if batch > 0 and self.want_graph and not self._graph_done:
                self._guard("graph", self._log_graphs)  # subclassed models are built by now
            self._pending = (self._profiler is not None and not self._profiler.done) or (
                self.want_graph and not self._graph_done)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # Maybe on one of several Keras worker threads (JAX and torch backends): run.log is
        # thread-safe and takes explicit steps in any order. Keras has made the logs floats.
        if batch > self._last_batch:
            with self._batch_lock:
                self._last_batch = max(self._last_batch, batch)
        step = self._step(batch)
        if self.log_every and logs and step % self.log_every == 0:
            rows = self._rows
            rows.append((step, logs.copy()))  # a copy: another callback may change the dict
            if len(rows) >= self._gather:
                self._hand_over()

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._hand_over()  # validation may take a while: the gathered batches go in first

    def _hand_over(self) -> None:
        """Log the gathered batch rows (any thread; also called by run.flush() and finish())."""
        rows = self._rows
        count = 0
        while True:
            try:  # popleft, not a loop over len(): another thread may be handing over as well
                step, logs = rows.popleft()
            except IndexError:
                break
            count += 1
            self._log_batch(step, logs)
        if count:
            now = time.perf_counter()
            per_row = (now - self._handed_at) / count
            self._gather = max(1, min(GATHER_MAX, int(GATHER_S / per_row) if per_row > 0 else 1))
            self._handed_at = now

    def _log_batch(self, step: int, logs: dict[str, Any]) -> None:
        names = tuple(logs)
        entry = self._keys.get(names)
        if entry is None:  # once per set of metric names (racing threads write the same)
            numeric = all(is_number(v) for v in logs.values())
            entry = self._keys[names] = (tuple(f"train/{n}" for n in names), numeric)
        keys, numeric = entry
        if numeric:
            metrics = dict(zip(keys, logs.values()))
        else:
            metrics = {k: v for k, v in zip(keys, logs.values()) if is_number(v)}
        if metrics:
            try:
                self.run.log(metrics, step)
            except Exception as exc:  # never stop fit() (nor raise on a worker thread)
                self._warn("metrics", f"could not log metrics: {type(exc).__name__}: {exc}")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._hand_over()
        step = self._step(max(self._last_batch, 0))  # Keras has waited for every batch end
        metrics: dict[str, Any] = {"epoch": epoch, "epoch/time_s": time.perf_counter()
                                   - self._epoch_start}
        for name, value in (logs or {}).items():
            if is_number(value):
                metrics[f"epoch/{name}"] = value
        lr = self._learning_rate()
        if lr is not None:
            metrics["epoch/lr"] = lr
        self._guard("metrics", self.run.log, metrics, step)
        self._last_epoch_logs = {k: v for k, v in (logs or {}).items() if is_number(v)}
        if self.want_graph and not self._graph_done:
            self._guard("graph", self._log_graphs)
        if self.histogram_every and (epoch + 1) % self.histogram_every == 0:
            self._guard("histograms", self._log_histograms, step)
            if self.gradient_sample is not None:
                self._guard("gradients", self._log_gradients, step)
        if self._profiler is not None and self._profiler.active:
            if self._profiler.last is not None and self._profiler.last <= step:
                self._guard("profile", self._finish_profile)
        assert self._base is not None
        # Counted from batch ends: a dataset of unknown length begins one batch that never ends,
        # and with steps_per_execution > 1 the end carries the last step of each stride.
        self._base += self._last_batch + 1

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._hand_over()
        self.run.remove_flush_hook(self._hand_over)  # the run need not keep us (and the model)
        if self._profiler is not None and self._profiler.active:
            self._guard("profile", self._finish_profile)
        summary = dict(self._last_epoch_logs)
        summary.update({k: v for k, v in (logs or {}).items() if is_number(v)})
        if summary:
            self._guard("summary", lambda: self.run.set_summary(**summary))

    # -- helpers ----------------------------------------------------------------------------------
    def _step(self, batch: int) -> int:
        return (self._base or 0) + batch

    def _learning_rate(self) -> Any:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return None
        try:
            lr = optimizer.learning_rate  # a schedule is evaluated at the current iteration
            # Read now (once an epoch): on JAX the next train step donates the variable's buffer,
            # so a handle kept for the writer thread would read as deleted.
            return float(keras.ops.convert_to_numpy(getattr(lr, "value", lr)))
        except Exception:
            return None

    def _log_config(self) -> None:
        self.run.update_config({"keras": fit_config(self.model, self.params,
                                                    keras.backend.backend())})

    def _log_graphs(self) -> None:
        self._graph_done = True
        self.run.log_graph(layer_graph(self.model))
        if self.want_op_graph:
            if keras.backend.backend() != "tensorflow":
                self._warn("op_graph", "op_graph=True needs the tensorflow backend; only the "
                                       "layer graph is stored")
            else:
                self.run.log_graph(op_graph(self.model, self.op_graph_signature))

    def _log_histograms(self, step: int) -> None:
        for variable in self.model.weights:
            # The backend value (tf.Variable, jax.Array, torch tensor): the run reads it now.
            self.run.log_histogram(f"weights/{variable.path}", variable.value, step)

    def _log_gradients(self, step: int) -> None:
        if keras.backend.backend() not in GRADIENT_BACKENDS:
            self.gradient_sample = None
            self._warn("gradients", f"gradient histograms need the tensorflow or torch backend, "
                                    f"not {keras.backend.backend()}; only weights are logged")
            return
        x, y = self.gradient_sample  # type: ignore[misc]
        for variable, grad in sample_gradients(self.model, x, y):
            if grad is not None:
                self.run.log_histogram(f"grads/{variable.path}", grad, step)

    def _profile_step(self, step: int) -> None:
        assert self._profiler is not None
        profile = self._profiler.step_begin(step)
        if profile is not None:
            self.run.log_profile(profile)

    def _finish_profile(self) -> None:
        assert self._profiler is not None
        profile = self._profiler.close()
        if profile is not None:
            self.run.log_profile(profile)

    def _guard(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        """Run a capture; a failure warns once and never stops training."""
        try:
            fn(*args)
        except Exception as exc:
            self._warn(what, f"could not log {what}: {type(exc).__name__}: {exc}")

    def _warn(self, what: str, message: str) -> None:
        self._notices.warn(what, message)

