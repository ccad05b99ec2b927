"""JAX hooks: nested metrics without host syncs, jaxpr/HLO graphs, XLA profiles and gradient norms.

Usage::

    from tracker.hooks import jax as tj

    run = tracker.init(project="jax-mlp", config=cfg)
    tj.log_graph(run, train_step, params, opt_state, batch)  # jaxpr + StableHLO + compiled HLO
    prof = tj.profile(run, steps=5, start=100)               # one profiler window
    for step in range(steps):
        with prof.step(step):
            params, opt_state, metrics, grads = train_step(params, opt_state, batch)
        tj.log(run, metrics, step=step)                      # nested dict of Arrays: no sync
        tj.log_image(run, "samples", samples, step=step)     # an Array: read once computed
        tj.log_grad_norms(run, grads, step, every=50)

Import it only in code that uses JAX (it imports jax); flax is used only when given nnx modules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...contract import RunLike
from ...graph import Graph
from ...notices import warn
from .._shared.messages import describe
from .capture import capture_graph
from .grads import flush_callbacks, grad_norms, grad_norms_callback, log_grad_norms
from .nnx import is_nnx_module, module_graph
from .packed import PackedMetrics, pack
from .profile import JaxProfile
from .tree import flatten_metrics

__all__ = [
    "JaxProfile",
    "PackedMetrics",
    "flatten_metrics",
    "flush_callbacks",
    "grad_norms",
    "grad_norms_callback",
    "log",
    "log_graph",
    "log_grad_norms",
    "log_image",
    "log_module",
    "pack",
    "profile",
]


def log(run: RunLike, metrics: Any, step: int | None = None, *, prefix: str = "") -> None:
    """``run.log`` for pytrees: nested dicts, lists, NamedTuples flatten to 'a/b' keys.

    JAX arrays are handed over as they are and read once computed, so this never waits for the
    device. ``prefix`` puts every key under 'prefix/'. Metrics packed with ``pack()`` inside the
    step are read in one go.
    """
    if type(metrics) is PackedMetrics:
        # Run.log reads a PackedMetrics itself (``__tracker_packed__``): one device read
        run.log(metrics.with_prefix(prefix) if prefix else metrics, step)  # type: ignore[arg-type]
        return
    if type(metrics) is dict and not prefix:
        try:
            run.log(metrics, step)  # the core takes flat and nested dicts of arrays itself
            return
        except TypeError:  # lists, tuples or other pytrees inside (log() stored nothing)
            pass
    run.log(flatten_metrics(metrics, prefix), step)


def log_image(run: RunLike, key: str, images: Any, step: int | None = None,
              caption: str | None = None) -> None:
    """``run.log_image`` for arrays a jitted step returned: never waits for the device.

    ``images`` is one array ((H,W), (H,W,C), a batch (N,H,W,C): one grid) or a pytree of them
    (a dict ``{"real": x, "fake": y}`` logs ``key/real`` and ``key/fake``). Only shape and dtype
    are looked at here; the writer thread reads the values once they are computed (a flush that
    need not wait leaves an array still being computed for the next one).
    """
    if run.disabled:
        return
    if not isinstance(images, (dict, list, tuple)):  # one image (NamedTuples are tuples)
        run.log_image(key, images, step, caption)
        return
    for name, image in flatten_metrics(images, key).items():
        run.log_image(name, image, step, caption)


def log_graph(
    run: RunLike,
    fn: Callable[..., Any],
    *args: Any,
    name: str | None = None,
    compile: bool = True,
    param_argnums: Sequence[int] | None = None,
) -> Graph | None:
    """Store the graph of ``fn(*args)``: jaxpr nodes/edges, StableHLO, compiled HLO and costs.

    ``args`` are what one real call takes (arrays or ``jax.ShapeDtypeStruct``s); nothing runs.
    Arguments named params/variables/weights/model, nnx Modules, or those in ``param_argnums``
    count as parameters. An nnx Module argument also stores its module tree (source 'nnx').
    ``compile=False`` skips XLA compilation (no compiled HLO or cost analysis, much faster).
    If ``fn`` cannot be traced with these arguments, this warns and returns None.
    """
    if run.disabled:
        return None
    try:
        graph = capture_graph(fn, args, name=name, compile=compile, param_argnums=param_argnums)
    except Exception as exc:
        fn_name = getattr(fn, "__name__", type(fn).__name__)
        warn(f"no graph for {fn_name}: {describe(exc)} (pass the arguments of one real call)")
        return None
    run.log_graph(graph)
    for arg in args:
        if is_nnx_module(arg):
            run.log_graph(module_graph(arg))
    return graph


def log_module(run: RunLike, module: Any, name: str | None = None) -> Graph:
    """Store a flax.nnx module tree with parameter counts (no tracing, no inputs needed)."""
    if not is_nnx_module(module):
        raise TypeError(f"log_module() takes a flax.nnx Module, not {type(module).__name__}")
    graph = module_graph(module, name=name)
    run.log_graph(graph)
    return graph


def profile(
    run: RunLike,
    steps: int | None = None,
    *,
    start: int | None = None,
    name: str = "profile",
    logdir: str | Path | None = None,
    python_tracer: bool = False,
) -> JaxProfile:
    """A ``jax.profiler`` window stored with ``run`` as a Profile (top XLA ops, step times, xplane).

    ``with tj.profile(run, steps=5) as prof:`` traces the block; annotate steps inside it with
    ``with prof.step(i):``, and the window closes after ``steps`` of them. Or, in the loop, create
    it once with ``start=`` and wrap every step in ``prof.step(i)``. ``logdir`` keeps the raw
    capture on disk as well (default: a temporary directory, removed afterwards).
    """
    return JaxProfile(run, steps, start=start, name=name, logdir=logdir,
                      python_tracer=python_tracer)
