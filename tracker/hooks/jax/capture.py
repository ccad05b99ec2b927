"""Capturing a JAX function's graph: the jaxpr as nodes, StableHLO as the raw form, compiled HLO + costs.

Where things go (one ``Graph``, source 'jaxpr'):
- nodes and edges: the jaxpr (``jax_graph``), inputs named after the function's parameters;
- ``raw`` / ``raw_format='stablehlo'``: ``jit(fn).lower(*args).as_text()``;
- ``meta['compiled_hlo']``: the optimised HLO text, ``meta['cost_analysis']``: XLA's cost
  estimate (``flops``, ``bytes accessed``...), also as ``meta['flops']``/``meta['bytes_accessed']``.
  They live in meta rather than in a second graph so that an exporter writing one GraphDef per
  graph never replaces the real graph with a node-less one.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax

from ...graph import Graph
from .._shared.messages import describe
from .graph import JaxprGraphBuilder, safe_name
from .nnx import is_nnx_module
from .tree import path_key

PARAM_ARG_NAMES = ("params", "parameters", "variables", "weights", "model")


def arg_names(fn: Callable[..., Any], count: int) -> list[str]:
    """The names of ``fn``'s first ``count`` positional parameters ('arg3' where unknown)."""
    names = [f"arg{i}" for i in range(count)]
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins, some C++ wrappers
        return names
    i = 0
    for param in sig.parameters.values():
        if i >= count or param.kind is param.VAR_POSITIONAL:
            break
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            names[i] = param.name
            i += 1
    return names


def _param_paths(module: Any) -> set[str]:
    from flax import nnx

    return {
        ".".join(str(p) for p in path)
        for path, node in nnx.iter_graph(module)
        if isinstance(node, nnx.Param)
    }


def _inputs(
    fn: Callable[..., Any], args: Sequence[Any], param_argnums: Sequence[int] | None
) -> tuple[list[str], list[bool]]:
    names = arg_names(fn, len(args))
    if param_argnums is None:
        param_argnums = [
            i for i, (n, a) in enumerate(zip(names, args))
            if n in PARAM_ARG_NAMES or is_nnx_module(a)
        ]
    input_names, is_param = [], []
    for i, arg in enumerate(args):
        module_params = _param_paths(arg) if is_nnx_module(arg) else None
        for path, _ in jax.tree_util.tree_flatten_with_path(arg)[0]:
            sub = path_key(path, ".")
            input_names.append(safe_name(f"{names[i]}.{sub}" if sub else names[i]))
            if module_params is not None:
                is_param.append(sub in module_params)
            else:
                is_param.append(i in param_argnums)
    return input_names, is_param


def capture_graph(
    fn: Callable[..., Any],
    args: Sequence[Any],
    *,
    name: str | None = None,
    compile: bool = True,
    param_argnums: Sequence[int] | None = None,
) -> Graph:
    """Trace ``fn(*args)`` and return its graph with the raw forms described in the module doc.

    Raises whatever tracing raises (the caller decides whether that may stop training).
    """
    title = name or getattr(fn, "__name__", None) or type(fn).__name__
    t0 = time.perf_counter()
    closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)
    trace_s = time.perf_counter() - t0
    input_names, is_param = _inputs(fn, args, param_argnums)
    if len(input_names) != len(closed.jaxpr.invars):  # defensive: never mislabel inputs
        input_names = [f"input_{i}" for i in range(len(closed.jaxpr.invars))]
        is_param = [False] * len(input_names)
    out_paths = [path_key(p, ".") for p, _ in jax.tree_util.tree_flatten_with_path(out_shape)[0]]
    output_names = [safe_name(f"output.{p}" if p else "output") for p in out_paths]
    if len(output_names) != len(closed.jaxpr.outvars):
        output_names = [f"output_{i}" for i in range(len(closed.jaxpr.outvars))]
    graph = JaxprGraphBuilder(title).build(closed, input_names, is_param, output_names)
    graph.meta["trace_ms"] = round(trace_s * 1e3, 3)
    graph.meta["jax_version"] = jax.__version__
    _add_raw_forms(graph, fn, args, compile)
    return graph


def _add_raw_forms(graph: Graph, fn: Callable[..., Any], args: Sequence[Any], compile: bool) -> None:
    """StableHLO as ``raw``; compiled HLO and cost analysis in ``meta``. Failures go to meta."""
    try:
        t0 = time.perf_counter()
        jitted = fn if hasattr(fn, "lower") else jax.jit(fn)
        lowered = jitted.lower(*args)
        graph.raw, graph.raw_format = lowered.as_text(), "stablehlo"
        graph.meta["lower_ms"] = round((time.perf_counter() - t0) * 1e3, 3)
        if not compile:
            return
        t0 = time.perf_counter()
        compiled = lowered.compile()
        graph.meta["compile_ms"] = round((time.perf_counter() - t0) * 1e3, 3)
        graph.meta["compiled_hlo"] = compiled.as_text()
        cost = compiled.cost_analysis()
        if isinstance(cost, (list, tuple)):  # older jaxlibs: one dict per device program
            cost = cost[0] if cost else {}
        costs = {str(k): float(v) for k, v in dict(cost or {}).items()
                 if isinstance(v, (int, float))}
        graph.meta["cost_analysis"] = costs
        graph.meta["flops"] = costs.get("flops")
        graph.meta["bytes_accessed"] = costs.get("bytes accessed")
    except Exception as exc:  # a graph without its raw form beats no graph
        graph.meta["raw_error"] = describe(exc, 300)
