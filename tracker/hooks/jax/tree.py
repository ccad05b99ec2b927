"""Pytree paths as readable keys: flattening nested metrics to 'a/b' keys for ``Run.log``.

Leaves are handed on as they are (a ``jax.Array`` stays an Array): reading a device value here
would make the training loop wait for the device, which is the cost this hook exists to avoid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax


def path_key(path: tuple[Any, ...], sep: str = "/") -> str:
    """A jax key path as text: (GetAttrKey('l1'), GetAttrKey('kernel')) -> 'l1/kernel'.

    A trailing ``.value`` (how flax.nnx Variables flatten) is dropped: it names no parameter.
    """
    parts = [_entry(entry) for entry in path]
    if len(parts) > 1 and parts[-1] == "value" and type(path[-1]).__name__ == "GetAttrKey":
        parts.pop()
    return sep.join(parts)


def _entry(entry: Any) -> str:
    for attr in ("key", "name", "idx"):  # DictKey / FlattenedIndexKey, GetAttrKey, SequenceKey
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def flatten_metrics(tree: Any, prefix: str = "", sep: str = "/") -> dict[str, Any]:
    """Flatten nested metrics into ``{'a/b': leaf}``; leaves are not read or converted.

    Plain dicts, lists and tuples are walked directly (the per-step path: no jax tree utilities);
    other pytrees (NamedTuples, flax structs, nnx State) go through ``jax.tree_util``.
    """
    out: dict[str, Any] = {}
    _walk(tree, prefix, sep, out)
    return out


def _walk(node: Any, prefix: str, sep: str, out: dict[str, Any]) -> None:
    kind = type(node)
    if kind is dict or isinstance(node, Mapping):
        for key, value in node.items():
            _walk(value, f"{prefix}{sep}{key}" if prefix else str(key), sep, out)
    elif (kind is list or kind is tuple) and not hasattr(node, "_fields"):
        for i, value in enumerate(node):
            _walk(value, f"{prefix}{sep}{i}" if prefix else str(i), sep, out)
    elif _is_leaf(node):
        if not prefix:
            raise TypeError(f"log_tree() takes a dict or pytree of metrics, not {kind.__name__}")
        out[prefix] = node
    else:
        leaves, _ = jax.tree_util.tree_flatten_with_path(node)
        if not leaves and prefix:
            return
        for path, leaf in leaves:
            sub = path_key(path, sep)
            out[f"{prefix}{sep}{sub}" if prefix and sub else (prefix or sub)] = leaf


def _is_leaf(node: Any) -> bool:
    if isinstance(node, (int, float, complex, str, bytes, jax.Array)) or node is None:
        return True
    if hasattr(node, "shape") and hasattr(node, "dtype"):  # numpy, torch, TF: one value each
        return True
    return jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(node))
