"""``watch()``: gradient, weight, update and activation statistics of a torch model every N steps.

One forward pre-hook on the model counts training steps; that is all an off-step costs. On a
logging step it registers the per-parameter gradient hooks and per-module activation hooks for that
step only, and the step's numbers are logged at the next training forward (after ``opt.step()``,
so the update ratio can be measured), at ``unwatch()``, or at exit. On a GPU every statistic is a
tensor on the model's device handed to ``run.log``, so the training thread never syncs. On CPU the
training thread only copies the weights, gradients and activations; one worker thread
(``StatsWorker``, shared by every watched model) computes their norms, histograms and statistics
on another core, and the training thread logs its results at the next forward (so ``run.log``,
and a DDP reduction in it, stays on the training thread at a step every rank agrees on).
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from typing import Any

import torch

from ...run import lifecycle
from ...contract import RunLike
from ...notices import warn
from .models import first_tensor, is_compiled, unwrap
from .offload import copy_into, shared_worker
from .stats import (
    PendingHistograms,
    activation_stats,
    norms,
    packed_histogram,
    total_norm,
    unpack_histogram,
)

_EPS = 1e-12
# Offloading keeps copies: of the gradients (as many elements as the model) and of the leaf
# modules' outputs, up to this many elements per logging step (64 MB of float32); activations
# past it are measured on the training thread. A model larger than OFFLOAD_MAX_PARAMS is measured
# on the training thread altogether (its copies would cost more memory than they save time).
_ACT_COPY_BUDGET = 1 << 24
OFFLOAD_MAX_PARAMS = 1 << 26


class Watcher:
    """The hooks ``watch()`` put on one model; ``close()`` (or ``unwatch(model)``) removes them."""

    offload_cpu = True  # CPU models: norms and histograms on the worker thread (tests turn it off)

    def __init__(
        self,
        model: torch.nn.Module,
        run: RunLike,
        *,
        log_every: int = 100,
        per: str = "param",
        gradients: bool = True,
        weights: bool = True,
        activations: bool = True,
        histograms: bool = True,
        bins: int = 64,
        prefix: str = "",
        on_first_forward: Callable[[tuple, dict], None] | None = None,
    ) -> None:
        if not isinstance(log_every, int) or log_every < 1:
            raise ValueError(f"log_every must be a positive integer, not {log_every!r}")
        if per not in ("param", "module"):
            raise ValueError(f"per must be 'param' or 'module', not {per!r}")
        self.model, self.run = model, run
        self.inner = unwrap(model)
        self.compiled = is_compiled(model)
        self.log_every, self.per, self.bins, self.prefix = log_every, per, bins, prefix
        self.gradients, self.weights, self.histograms = gradients, weights, histograms
        self.activations = activations and not self.compiled
        if activations and self.compiled:
            warn(
                "watch(): activation statistics are off for a torch.compile'd model (module hooks "
                "added after compile do not run inside the compiled graph); gradients, weights "
                "and the graph are recorded"
            )
        self.params = [(n, p) for n, p in self.inner.named_parameters() if p.requires_grad]
        self.leaves = [
            (n or type(m).__name__, m) for n, m in self.inner.named_modules()
            if not any(True for _ in m.children())
        ]
        self.steps = 0  # training forward passes seen (the step the statistics are logged at)
        self.closed = False
        self.pending = PendingHistograms()
        self._on_first_forward = on_first_forward
        self._busy = False
        self._record_step: int | None = None
        self._step_handles: list[Any] = []
        self._weight_norms: list[torch.Tensor] = []
        self._snapshot: list[torch.Tensor] = []
        self._kept: dict[str, torch.Tensor] = {}  # CPU weight copies reused between logging steps
        self._grads: dict[str, torch.Tensor] = {}  # norms, or (offloaded) copies of the gradients
        self._grad_hists: dict[str, torch.Tensor] = {}
        self._grad_copies: dict[str, torch.Tensor] = {}  # CPU buffers kept between logging steps
        self._worker = shared_worker()  # its thread starts at the first offloaded logging step
        self._job_error: BaseException | None = None  # raised by one of our jobs on the worker
        self._offloaded = False  # this logging step's work goes to the worker (a CPU model)
        self._act_budget = 0  # elements of activations this logging step may still copy
        self._reports: list[tuple[str, int, Any]] = []  # the worker's results, to log
        self._reports_due = False  # work was submitted: log its results at the next forward
        # per module: its statistics, or (offloaded) a copy of its output to measure on the worker
        self._acts: dict[str, dict[str, Any] | torch.Tensor] = {}
        self._act_copies: dict[str, torch.Tensor] = {}  # CPU buffers kept between logging steps
        self._failed: BaseException | None = None  # an error inside a forward/backward hook
        if run.disabled:
            self.closed = True  # a rank that does not log: no hooks, no cost
            return
        self._handle = model.register_forward_pre_hook(self._pre_forward, with_kwargs=True)
        atexit.register(self.close)
        run.add_flush_hook(self._on_run_flush)  # finish() and SIGTERM take what the worker computed

    # -- the one hook that runs every step --------------------------------------------------------
    def _pre_forward(self, module: Any, args: tuple, kwargs: dict) -> None:
        if self._busy or not (torch.is_grad_enabled() and self.inner.training):
            return  # eval/inference passes (and our own graph capture) are not training steps
        self._busy = True
        try:
            if self._failed is not None:
                raise self._failed
            if self._reports_due:
                self._log_reports()
            if self._record_step is not None:
                self._finalize()
            elif self.pending.items:
                self.pending.drain(self.run)
            step = self.steps
            self.steps += 1
            if self._on_first_forward is not None:
                first, self._on_first_forward = self._on_first_forward, None
                first(args, kwargs)
            if step % self.log_every == 0:
                self._begin(step)
        except Exception as exc:  # never let a statistics bug stop training
            warn(f"watch(): statistics are off for this model after an error: {exc!r}")
            self.close(flush=False)
        finally:
            self._busy = False

    # -- a logging step ---------------------------------------------------------------------------
    def _begin(self, step: int) -> None:
        self._worker.wait()  # the last logging step's jobs read the buffers reused below
        self._record_step = step
        self._offloaded = (
            self.offload_cpu and bool(self.params)
            and all(p.device.type == "cpu" for _, p in self.params)
            and sum(p.numel() for _, p in self.params) <= OFFLOAD_MAX_PARAMS
        )
        self._act_budget = _ACT_COPY_BUDGET
        with torch.no_grad():
            if self.weights:
                tensors = [p.detach() for _, p in self.params]
                self._snapshot = self._copy_weights(tensors)  # for the update ratio
                if self._offloaded:
                    snapshot = self._snapshot
                    self._submit(lambda: self._weight_stats(step, snapshot))
                else:
                    self._weight_stats(step, tensors)
        if self.gradients:
            for name, p in self.params:
                self._step_handles.append(p.register_post_accumulate_grad_hook(self._grad_hook(name)))
        if self.activations:
            for name, m in self.leaves:
                self._step_handles.append(m.register_forward_hook(self._act_hook(name)))

    def _remove_step_hooks(self) -> None:
        for h in self._step_handles:
            h.remove()
        self._step_handles = []
        # A parameter that ever had a post-accumulate-grad hook keeps a C++ hook that calls into
        # Python on every backward, even once its dict is empty: measured 3-5 µs per parameter
        # per step, on every later step. Dropping the empty dict removes it.
        for _, p in self.params:
            if p._post_accumulate_grad_hooks is not None and not p._post_accumulate_grad_hooks:
                p._post_accumulate_grad_hooks = None

    def _weight_stats(self, step: int, tensors: list[torch.Tensor]) -> None:
        """Norms and histograms of the weights before this step's update (maybe on the worker)."""
        with torch.no_grad():
            self._weight_norms = norms(tensors)
            if self.histograms:
                for (name, _), t in zip(self.params, tensors):
                    self._histogram(self._key("weights", name), step, packed_histogram(t, self.bins))

    def _histogram(self, key: str, step: int, packed: torch.Tensor) -> None:
        if self._offloaded:  # on the worker: the training thread logs it
            self._reports.append(("histogram", step, (key, unpack_histogram(packed.numpy()))))
        else:
            self.pending.add(key, step, packed)  # a device copy: logged once it has landed

    def _submit(self, job: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                job()
            except BaseException as exc:  # reported on the training thread at the next forward
                self._job_error = exc

        self._worker.submit(guarded)
        self._reports_due = True

    def _log_reports(self) -> None:
        """Log what the worker has computed (waiting for it: it had a training step's time)."""
        self._worker.wait()
        if self._job_error is not None:
            raise self._job_error
        reports, self._reports, self._reports_due = self._reports, [], False
        if self.run.finished:
            return
        for kind, step, payload in reports:
            if kind == "scalars":
                self.run.log(payload, step=step)
            else:
                key, histogram = payload
                self.run.log_histogram(key, histogram, step=step)

    def _copy_weights(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        """Copies of the weights: on CPU into kept buffers; GPU allocators cache, so clone there."""
        if any(t.device.type != "cpu" for t in tensors):
            return [t.clone() for t in tensors]
        return [copy_into(self._kept, name, t) for (name, _), t in zip(self.params, tensors)]

    def _grad_hook(self, name: str) -> Callable[[torch.Tensor], None]:
        def hook(p: torch.Tensor) -> None:
            g = p.grad
            if g is None or g.is_sparse or self._failed is not None:
                return
            try:
                with torch.no_grad():  # later backward passes (accumulation) overwrite
                    if self._offloaded:  # copy now, measure on the worker
                        self._grads[name] = copy_into(self._grad_copies, name, g.detach())
                        return
                    self._grads[name] = torch.linalg.vector_norm(g.detach()).float()
                    if self.histograms:
                        self._grad_hists[name] = packed_histogram(g, self.bins)
            except Exception as exc:  # inside backward: note it, the next forward turns us off
                self._failed = exc

        return hook

    def _act_hook(self, name: str) -> Callable[[Any, Any, Any], None]:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            if name in self._acts:
                return  # the first call of the step (a module used twice keeps its first output)
            t = first_tensor(output)
            if t is None or t.is_complex() or self._failed is not None:
                return
            try:
                with torch.no_grad():
                    if self._offloaded and t.numel() <= self._act_budget:
                        self._act_budget -= t.numel()
                        self._acts[name] = copy_into(self._act_copies, name, t.detach())
                    else:
                        self._acts[name] = activation_stats(t)
            except Exception as exc:  # inside the model's forward: note it, never raise
                self._failed = exc

        return hook

    def _finalize(self) -> None:
        """Log the recorded step's statistics (weights have been updated by now)."""
        step, self._record_step = self._record_step, None
        self._remove_step_hooks()
        if step is None:
            return
        if self._offloaded:
            self._worker.wait()  # the weight job reads the snapshot turned into -Δw below
        with torch.no_grad():
            if self.weights and self._snapshot:
                for (_, p), old in zip(self.params, self._snapshot):
                    old.sub_(p.detach())  # in place: the snapshot becomes -Δw, same norm
        taken = (step, self._weight_norms, self._snapshot, self._grads, self._grad_hists, self._acts)
        self._snapshot, self._weight_norms = [], []
        self._grads, self._grad_hists, self._acts = {}, {}, {}
        if self._offloaded:  # the gradients are copies: measured on the worker first
            self._submit(lambda: self._report(*self._measure_grad_copies(*taken)))
        else:
            self._report(*taken)
            self.pending.drain(self.run)

    def _measure_grad_copies(self, step: int, weight_norms: list[torch.Tensor],
                             deltas: list[torch.Tensor], copies: dict[str, torch.Tensor],
                             grad_hists: dict[str, torch.Tensor], acts: Any) -> tuple:
        """``_report``'s arguments with gradient copies turned into norms and histograms."""
        with torch.no_grad():
            if self.histograms:
                grad_hists = {n: packed_histogram(g, self.bins) for n, g in copies.items()}
            grads = dict(zip(copies, norms(list(copies.values()))))
        return step, weight_norms, deltas, grads, grad_hists, acts

    def _report(
        self,
        step: int,
        weight_norms: list[torch.Tensor],
        deltas: list[torch.Tensor],
        grads: dict[str, torch.Tensor],
        grad_hists: dict[str, torch.Tensor],
        acts: dict[str, dict[str, Any] | torch.Tensor],
    ) -> None:
        """Log one recorded step's numbers (on the worker when offloaded)."""
        metrics: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            if self.weights and deltas:
                self._group(metrics, "weight_norm", weight_norms)
                self._group(metrics, "update_ratio", norms(deltas), weight_norms)
            if grads:
                names = [n for n, _ in self.params if n in grads]
                values = [grads[n] for n in names]
                self._group(metrics, "grad_norm", values, names=names)
                metrics[self._key("grad_norm_total")] = total_norm(values)
            for name, stats in acts.items():
                if isinstance(stats, torch.Tensor):  # an offloaded copy of the output
                    stats = activation_stats(stats)
                for stat, value in stats.items():
                    metrics[self._key(f"act_{stat}", name)] = value
        if metrics and self._offloaded:  # on the worker: the training thread logs them
            self._reports.append(("scalars", step, _as_floats_on_cpu(metrics)))
        elif metrics and not self.run.finished:
            self.run.log(_as_floats_on_cpu(metrics), step=step)
        for name, packed in grad_hists.items():
            self._histogram(self._key("grads", name), step, packed)

    def _group(
        self,
        out: dict[str, torch.Tensor],
        stat: str,
        values: list[torch.Tensor],
        base: list[torch.Tensor] | None = None,
        names: list[str] | None = None,
    ) -> None:
        """Per parameter, or per owning module (root-sum-square over its parameters)."""
        names = names if names is not None else [n for n, _ in self.params]
        if self.per == "param":
            for i, name in enumerate(names):
                v = values[i] if base is None else values[i] / (base[i] + _EPS)
                out[self._key(stat, name)] = v
            return
        groups: dict[str, list[int]] = {}
        root = type(self.inner).__name__
        for i, name in enumerate(names):
            groups.setdefault(name.rpartition(".")[0] or root, []).append(i)
        for module, idx in groups.items():
            v = total_norm([values[i] for i in idx])
            if base is not None:
                v = v / (total_norm([base[i] for i in idx]) + _EPS)
            out[self._key(stat, module)] = v

    def _key(self, stat: str, name: str | None = None) -> str:
        return f"{self.prefix}{stat}" if name is None else f"{self.prefix}{stat}/{name}"

    def _on_run_flush(self) -> None:
        """The run is flushing or finishing: log the worker's results now (never from inside our
        own hooks, which a signal handler may have interrupted).

        A run finished by the program (not by SIGTERM, whose handler may have stopped a forward
        or backward pass midway) ends the watch as ``unwatch()`` would: a logging step that was
        the last step is measured and logged, not lost.
        """
        if self._busy or self.closed:
            return
        if self.run.finishing and not lifecycle.in_signal_handler():
            self.close()  # warns on its own if the statistics cannot be logged
            return
        if not self._reports_due:
            return
        try:
            self._log_reports()
        except Exception as exc:
            warn(f"watch(): statistics could not be logged: {exc!r}")

    # -- teardown ---------------------------------------------------------------------------------
    def close(self, flush: bool = True) -> None:
        """Remove every hook; log what the last recorded step has (when ``flush``)."""
        if self.closed:
            return
        self.closed = True
        atexit.unregister(self.close)
        self._handle.remove()
        self.run.remove_flush_hook(self._on_run_flush)
        if flush and self._record_step is not None:
            try:
                self._finalize()
            except Exception as exc:
                warn(f"watch(): the last statistics could not be logged: {exc!r}")
        self._remove_step_hooks()
        if flush and self._reports_due:
            try:
                self._log_reports()
            except Exception as exc:
                warn(f"watch(): the last statistics could not be logged: {exc!r}")
        self._worker.wait()  # the worker is shared: our jobs are done, its thread stays
        self._reports = []
        if flush and not self.run.finished:
            self.pending.drain(self.run, block=True)
        self.pending.items = []


def _as_floats_on_cpu(metrics: dict[str, Any]) -> dict[str, Any]:
    """CPU statistics as Python floats, read here (``item()``: 0.3 µs each, where stacking them
    first cost 6 µs each); anything on a device stays a tensor for the writer thread to read."""
    if not all(type(v) is float or v.device.type == "cpu" for v in metrics.values()):
        return metrics
    return {k: v if type(v) is float else float(v.item()) for k, v in metrics.items()}

