"""A jaxpr as a neutral ``tracker.Graph``: one node per primitive, nested jaxprs inlined under a scope.

Call-like primitives (``jit``, ``custom_jvp_call``, ``checkpoint``...) are inlined with no node of
their own: their body's ops take the call's place under a scope named after the function, so a
jitted step reads as its ops rather than one opaque box. Control flow (``scan``, ``while``,
``cond``) keeps a node for the loop or branch, with the body's ops under ``<node>.<body>`` scopes.
``jax.named_scope`` names come from each equation's name stack.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from jax.extend import core as jcore

from ...graph import Graph, GraphNode

# Primitives whose one sub-jaxpr is the call's body with the same inputs and outputs.
_CALLS = {
    "jit": "name",
    "pjit": "name",
    "closed_call": None,
    "core_call": None,
    "custom_jvp_call": None,
    "custom_vjp_call": None,
    "custom_vjp_call_jaxpr": None,
    "checkpoint": None,
    "remat": None,
    "remat2": None,
}
# Equation params that are plumbing (shardings, layouts, callables), not what an op does.
_NOISY_PARAMS = {
    "in_shardings", "out_shardings", "in_layouts", "out_layouts", "donated_invars", "ctx_mesh",
    "keep_unused", "inline", "compiler_options_kvs", "jvp_jaxpr_fun", "jvp_jaxpr_thunk",
    "fwd_jaxpr_thunk", "bwd", "sharding", "out_sharding", "name", "symbolic_zeros", "num_consts",
}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")


def shape_text(avals: Sequence[Any]) -> tuple[str | None, str | None]:
    """('[2, 16], [2]', 'float32') for a list of abstract values; None where there are none."""
    shapes, dtypes = [], []
    for aval in avals:
        shape = getattr(aval, "shape", None)
        if shape is None:
            continue
        shapes.append("[" + ", ".join(str(d) for d in shape) + "]")
        dtype = str(getattr(aval, "dtype", ""))
        if dtype not in dtypes:
            dtypes.append(dtype)
    return (", ".join(shapes) or None, ", ".join(dtypes) or None)


def safe_name(text: str) -> str:
    """A node name from a pytree path: only characters every graph format accepts."""
    return _SAFE_NAME.sub("_", text).strip("_") or "arg"


def _join(scope: str, part: str) -> str:
    part = part.strip("/")
    if not part:
        return scope
    return f"{scope}/{part}" if scope else part


def _clean(stack: str) -> str:
    """'transpose(jvp())' -> 'transpose(jvp)': an empty transform wrapper says nothing more."""
    while "()" in stack:
        stack = stack.replace("()", "")
    return stack


def _call_scope(stack: str, call: str) -> str:
    """Put a call's name into its transform-wrapped name stack: 'transpose(jvp())' + 'loss'."""
    if not call:
        return _clean(stack)
    if "()" in stack:
        i = stack.rfind("()")
        return _clean(stack[:i] + f"({call})" + stack[i + 2 :])
    return _join(stack, call)


def _sub_jaxprs(params: dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, ClosedJaxpr or Jaxpr) for every sub-jaxpr in an equation's params."""
    found = []
    for key, value in params.items():
        if isinstance(value, (jcore.ClosedJaxpr, jcore.Jaxpr)):
            found.append((key, value))
        elif isinstance(value, (tuple, list)) and value and all(
            isinstance(v, (jcore.ClosedJaxpr, jcore.Jaxpr)) for v in value
        ):
            found.extend((f"{key}{i}", v) for i, v in enumerate(value))
    return found


def _unpack(sub: Any) -> Any:
    return sub.jaxpr if isinstance(sub, jcore.ClosedJaxpr) else sub


def _attrs(params: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in params.items():
        if key in _NOISY_PARAMS or callable(value) or _sub_jaxprs({key: value}):
            continue
        text = str(value)
        out[key] = text if len(text) <= 160 else text[:157] + "..."
    return out


class JaxprGraphBuilder:
    """Builds a Graph from a ClosedJaxpr; call ``build`` once."""

    def __init__(self, name: str) -> None:
        self.graph = Graph(name=name, framework="jax", source="jaxpr")
        self._counts: Counter[str] = Counter()
        self._edges: set[tuple[int, int]] = set()
        self._used: set[str] = set()

    def build(
        self,
        closed: Any,
        input_names: Sequence[str],
        param_inputs: Sequence[bool],
        output_names: Sequence[str],
    ) -> Graph:
        """Add inputs, every op and the outputs of ``closed``; return the graph."""
        jaxpr = closed.jaxpr
        env: dict[Any, int | None] = {}
        for var, name, is_param in zip(jaxpr.invars, input_names, param_inputs):
            shape, dtype = shape_text([var.aval])
            size = int(getattr(var.aval, "size", 0)) if is_param else 0
            scope = name.rsplit(".", 1)[0].replace(".", "/") if "." in name else ""
            env[var] = self._add(
                GraphNode(name=self._unique(name), op="parameter" if is_param else "input",
                          scope=scope, kind="param" if is_param else "input", shape=shape,
                          dtype=dtype, params=size)
            )
        self._bind_consts(jaxpr, env, "")
        # A jitted function traces to one 'jit' equation: its name would prefix every scope.
        self._walk(jaxpr, env, "", top=len(jaxpr.eqns) == 1)
        for var, name in zip(jaxpr.outvars, output_names):
            shape, dtype = shape_text([var.aval])
            idx = self._add(GraphNode(name=self._unique(name), op="output", kind="output",
                                      shape=shape, dtype=dtype))
            self._connect(self._src(env, var), idx)
        return self.graph

    # -- helpers ----------------------------------------------------------------------------------
    def _unique(self, base: str) -> str:
        name = base
        while name in self._used:  # rare: a counter name that an input path already took
            self._counts[base] += 1
            name = f"{base}_{self._counts[base]}"
        self._used.add(name)
        return name

    def _add(self, node: GraphNode) -> int:
        return self.graph.add(node)

    def _connect(self, src: int | None, dst: int) -> None:
        if src is not None and src != dst and (src, dst) not in self._edges:
            self._edges.add((src, dst))
            self.graph.connect(src, dst)

    @staticmethod
    def _src(env: dict[Any, int | None], var: Any) -> int | None:
        if isinstance(var, jcore.Literal):
            return None
        return env.get(var)

    def _bind_consts(self, jaxpr: Any, env: dict, scope: str) -> None:
        """Closed-over arrays (ClosedJaxpr consts) become 'constant' nodes."""
        for var in jaxpr.constvars:
            shape, dtype = shape_text([var.aval])
            env[var] = self._add(GraphNode(name=self._unique("constant"), op="constant",
                                           scope=scope, kind="constant", shape=shape, dtype=dtype))

    def _walk(self, jaxpr: Any, env: dict[Any, int | None], scope: str, top: bool = False) -> None:
        for eqn in jaxpr.eqns:
            prim = eqn.primitive.name
            stack = str(eqn.source_info.name_stack)
            srcs = [self._src(env, v) for v in eqn.invars]
            subs = _sub_jaxprs(eqn.params)
            if self._inline_call(eqn, prim, stack, subs, srcs, env, scope, top):
                continue
            eqn_scope = _join(scope, _clean(stack))
            shape, dtype = shape_text([v.aval for v in eqn.outvars])
            node = GraphNode(name=self._unique(prim), op=prim, scope=eqn_scope, shape=shape,
                             dtype=dtype, attrs=_attrs(eqn.params))
            idx = self._add(node)
            for src in srcs:
                self._connect(src, idx)
            for var in eqn.outvars:
                if not isinstance(var, jcore.DropVar):
                    env[var] = idx
            for label, sub in subs:  # control flow: the body's ops under '<node>.<body>'
                inner = _unpack(sub)
                sub_scope = _join(eqn_scope, f"{node.name}.{label.removesuffix('_jaxpr')}")
                inner_env = self._align(eqn, label, inner, srcs)
                self._bind_consts(inner, inner_env, sub_scope)
                self._walk(inner, inner_env, sub_scope)
                for var in inner.outvars:
                    self._connect(self._src(inner_env, var), idx)

    def _inline_call(
        self, eqn: Any, prim: str, stack: str, subs: list, srcs: list, env: dict, scope: str,
        top: bool,
    ) -> bool:
        if prim not in _CALLS or len(subs) != 1:
            return False
        inner = _unpack(subs[0][1])
        if len(inner.invars) != len(eqn.invars) or len(inner.outvars) != len(eqn.outvars):
            return False
        name_param = _CALLS[prim]
        call = str(eqn.params.get(name_param, "")) if name_param and not top else ""
        inner_scope = _join(scope, _call_scope(stack, call))
        inner_env: dict[Any, int | None] = dict(zip(inner.invars, srcs))
        self._bind_consts(inner, inner_env, inner_scope)
        self._walk(inner, inner_env, inner_scope)
        for outer, var in zip(eqn.outvars, inner.outvars):
            if not isinstance(outer, jcore.DropVar):
                env[outer] = self._src(inner_env, var)
        return True

    @staticmethod
    def _align(eqn: Any, label: str, inner: Any, srcs: list) -> dict[Any, int | None]:
        """Map a control-flow body's inputs to the producers of the equation's operands."""
        if eqn.primitive.name == "while":
            nc, nb = eqn.params.get("cond_nconsts", 0), eqn.params.get("body_nconsts", 0)
            carry = srcs[nc + nb :]
            operands = srcs[:nc] + carry if label.startswith("cond") else srcs[nc : nc + nb] + carry
        else:  # scan: same operands; cond: the branch index comes first
            operands = srcs[len(srcs) - len(inner.invars) :] if len(inner.invars) <= len(srcs) else srcs
        return dict(zip(inner.invars, operands))
