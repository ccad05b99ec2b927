"""PyTorch hooks: ``watch`` a model (statistics + graph), ``profile`` steps, log graphs, DDP runs.

    from tracker.hooks.torch import watch, profile

    run = tracker.init(project="cifar", config=cfg)
    watch(model, run, log_every=100)      # gradient/weight/activation stats + the model graph
    for step, (x, y) in enumerate(loader):
        loss = loss_fn(model(x), y)
        loss.backward(); opt.step(); opt.zero_grad()
        run.log({"loss": loss}, step=step)  # a tensor: read on the writer thread, no sync here
    with profile(run, steps=5):               # torch.profiler over the next 5 optimizer steps
        train(more_batches)                   # the profiled steps run inside the block

Never imports ``torch.utils.tensorboard``.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

import torch

from ...contract import RunLike
from ...graph import Graph
from ...notices import warn
from .._shared.run import run_or_current

# The submodules first: importing one sets the package attribute of its name, and the functions
# defined below (watch, profile) must be what `from tracker.hooks.torch import watch` finds.
from .ddp import DistributedRun, init_distributed, rank_and_world
from .graph import capture_graph
from .profile import ProfileWindow
from .watch import Watcher

__all__ = [
    "DistributedRun",
    "ProfileWindow",
    "Watcher",
    "capture_graph",
    "init_distributed",
    "log_graph",
    "profile",
    "rank_and_world",
    "unwatch",
    "watch",
]

_watchers: weakref.WeakKeyDictionary[torch.nn.Module, Watcher] = weakref.WeakKeyDictionary()


def _as_args(example_input: Any) -> tuple:
    if example_input is None:
        return ()
    return example_input if isinstance(example_input, tuple) else (example_input,)


def watch(
    model: torch.nn.Module,
    run: RunLike | None = None,
    *,
    log_every: int = 100,
    per: str = "param",
    gradients: bool = True,
    weights: bool = True,
    activations: bool = True,
    histograms: bool = True,
    bins: int = 64,
    graph: bool = True,
    prefix: str = "",
) -> Watcher:
    """Record model statistics every ``log_every`` training steps, and the model graph once.

    A training step is a forward pass with grad enabled and the model in train mode; the step
    number logged is the count of those passes (0, 1, ...), which matches ``enumerate(loader)``.
    Each logging step records, per parameter (``per="param"``) or per owning module
    (``per="module"``): ``grad_norm/*``, ``weight_norm/*``, ``update_ratio/*`` (|Δw|/|w| of that
    step's update), plus ``grad_norm_total``, ``act_{mean,std,zeros,nan,inf}/<module>`` for leaf
    modules, and histograms ``weights/*`` and ``grads/*``. The numbers of a logging step are logged
    at the next training forward (on CPU, where a worker thread computes them from copies: the one
    after), at ``unwatch()``, at exit or when the run finishes (which ends the watch).

    ``graph=True`` stores the model graph on the first training forward, from its real input
    (torch.fx, or module hooks when fx cannot trace the model). On a ``torch.compile``d model,
    activation statistics are off (it says so); everything else works. On a rank that does not
    log (``DisabledRun``) nothing is registered.
    """
    target = run_or_current(run, "watch()")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"watch() takes a torch.nn.Module, not {type(model).__name__}")
    unwatch(model)
    on_first: Callable[[tuple, dict], None] | None = None
    if graph and not target.disabled:
        on_first = functools.partial(_log_graph_safely, model, target)
    watcher = Watcher(
        model, target, log_every=log_every, per=per, gradients=gradients, weights=weights,
        activations=activations, histograms=histograms, bins=bins, prefix=prefix,
        on_first_forward=on_first,
    )
    if not watcher.closed:
        _watchers[model] = watcher
    return watcher


def unwatch(model: torch.nn.Module | None = None) -> None:
    """Remove every hook ``watch()`` put on ``model`` (on every watched model when None)."""
    targets = list(_watchers.items()) if model is None else [(model, _watchers.get(model))]
    for key, watcher in targets:
        if watcher is not None:
            watcher.close()
            _watchers.pop(key, None)


def _log_graph_safely(model: torch.nn.Module, run: RunLike, args: tuple, kwargs: dict) -> None:
    try:
        run.log_graph(capture_graph(model, args, kwargs))
    except Exception as exc:  # a graph is a nicety: training goes on without it
        warn(f"watch() could not capture the model graph ({exc!r})")


def log_graph(
    model: torch.nn.Module,
    example_input: Any = None,
    *,
    run: RunLike | None = None,
    kwargs: dict[str, Any] | None = None,
    method: str = "auto",
    name: str | None = None,
) -> Graph:
    """Capture the graph of ``model`` and store it with the run; returns the graph.

    ``example_input`` is one positional input or a tuple of them (keyword inputs in ``kwargs``);
    it gives shapes, and it is required for the hooks fallback (data-dependent control flow,
    string/flag inputs). It runs one forward without autograd in eval mode.
    """
    run = run_or_current(run, "log_graph()")
    graph = capture_graph(model, _as_args(example_input), kwargs, method=method, name=name)
    run.log_graph(graph)
    return graph


def profile(run: RunLike | None = None, steps: int = 5, **options: Any) -> ProfileWindow:
    """Profile the next ``steps`` training steps with torch.profiler and store the result.

    Use as ``with profile(run, steps=5): ...``. Steps advance on each ``optimizer.step()``
    (or call ``.step()`` on the returned object, with ``step_on="manual"``). Options: ``wait``,
    ``warmup`` (default 1), ``activities``, ``record_shapes``, ``profile_memory``, ``with_flops``,
    ``with_stack``, ``trace`` (keep the chrome trace, default True), ``name``.
    """
    return ProfileWindow(run_or_current(run, "profile()"), steps, **options)
