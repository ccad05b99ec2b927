"""A flax.nnx module tree as a neutral ``tracker.Graph``: one node per module with its parameter count.

jaxprs carry no module names (nnx adds no named scopes), so this is the view that shows the model's
structure. flax is looked up in ``sys.modules``: a value can only be an nnx Module if the user has
imported flax.nnx already, so nothing is imported for plain-JAX users.
"""

from __future__ import annotations

import sys
from typing import Any

import jax

from ...graph import Graph, GraphNode
from .graph import shape_text


def is_nnx_module(value: Any) -> bool:
    """True for a flax.nnx Module (without importing flax)."""
    nnx = sys.modules.get("flax.nnx")
    return nnx is not None and isinstance(value, nnx.Module)


def _size(variable: Any) -> int:
    return sum(int(getattr(leaf, "size", 1)) for leaf in jax.tree_util.tree_leaves(variable))


def _order(path: tuple[Any, ...]) -> tuple:
    # Numeric parts compare as numbers ('blocks/2' before 'blocks/10'), never int against str.
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in path)


def module_graph(module: Any, name: str | None = None) -> Graph:
    """The module tree of an nnx Module: names are dotted paths, scopes the enclosing modules.

    Each module node owns the ``nnx.Param`` values directly on it (``params``), lists its
    variables in ``attrs['variables']`` and its whole subtree's count in ``attrs['total_params']``.
    """
    from flax import nnx

    root = type(module).__name__
    modules: dict[tuple[Any, ...], Any] = {}
    variables: dict[tuple[Any, ...], list[tuple[str, Any]]] = {}
    for path, node in nnx.iter_graph(module):
        path = tuple(path)
        if isinstance(node, nnx.Module):
            modules.setdefault(path, node)
        elif isinstance(node, nnx.Variable) and path:
            variables.setdefault(path[:-1], []).append((str(path[-1]), node))
    graph = Graph(name=name or root, framework="jax", source="nnx")
    subtree: dict[tuple[Any, ...], int] = dict.fromkeys(modules, 0)
    for path in sorted(modules, key=len, reverse=True):  # children before their parents
        subtree[path] += sum(_size(v) for _, v in variables.get(path, []) if isinstance(v, nnx.Param))
        if path and path[:-1] in subtree:
            subtree[path[:-1]] += subtree[path]
    for path in sorted(modules, key=_order):
        owned = variables.get(path, [])
        attrs: dict[str, Any] = {"total_params": subtree[path]}
        if owned:
            attrs["variables"] = {
                key: f"{type(var).__name__} {' '.join(t for t in _var_shape(var) if t)}".strip()
                for key, var in sorted(owned)
            }
        graph.add(
            GraphNode(
                name=".".join(str(p) for p in path) if path else root,
                op=type(modules[path]).__name__,
                scope="/".join([root, *(str(p) for p in path[:-1])]) if path else "",
                kind="module",
                params=sum(_size(v) for _, v in owned if isinstance(v, nnx.Param)),
                attrs=attrs,
            )
        )
    return graph


def _var_shape(variable: Any) -> tuple[str | None, str | None]:
    leaves = jax.tree_util.tree_leaves(variable)
    return shape_text(leaves[:1]) if leaves else (None, None)
