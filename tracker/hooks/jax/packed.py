"""Metrics packed into one array inside a jitted step: one device read per step, not one per metric.

``pack(metrics)`` inside the step stacks the scalar leaves into a 1-d array and keeps their
'a/b' keys as static pytree data, so the packed value leaves ``jit`` like any output. ``run.log``
(or ``tj.log``) stores it as one point per key: on CPU, where each array read costs about 2 µs
right after a step (XLA's threads wrote it from the other core), three metrics cost one read.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .tree import flatten_metrics


@jax.tree_util.register_pytree_node_class
class PackedMetrics:
    """Scalar metrics stacked into one 1-d array (``values``), in the order of ``keys``."""

    __slots__ = ("keys", "values")

    def __init__(self, keys: tuple[str, ...], values: Any) -> None:
        self.keys = keys
        self.values = values

    def tree_flatten(self) -> tuple[tuple[Any], tuple[str, ...]]:
        return (self.values,), self.keys

    @classmethod
    def tree_unflatten(cls, keys: tuple[str, ...], children: Any) -> PackedMetrics:
        return cls(keys, children[0])

    def __tracker_packed__(self) -> tuple[tuple[str, ...], Any]:
        """What ``Run.log`` reads: the keys and the array (the core does not import jax)."""
        return self.keys, self.values

    def with_prefix(self, prefix: str) -> PackedMetrics:
        """The same values under 'prefix/key' (no device work)."""
        return PackedMetrics(tuple(f"{prefix}/{k}" for k in self.keys), self.values)

    def unpack(self) -> dict[str, Any]:
        """``{key: 0-d array}``, e.g. to use one of the values in the step itself."""
        return {k: self.values[i] for i, k in enumerate(self.keys)}

    def __repr__(self) -> str:
        return f"PackedMetrics({list(self.keys)})"


def pack(metrics: Any, prefix: str = "") -> PackedMetrics:
    """Stack scalar metrics (a nested dict or other pytree) into one array, inside or outside jit.

    Keys flatten as ``tj.log`` flattens them. The values take their common float dtype (float32
    for ints and bools: exact up to 2**24). A leaf with more than one element raises, naming it.
    """
    flat = flatten_metrics(metrics, prefix)
    if not flat:
        raise ValueError("pack() got no metrics")
    leaves = []
    for key, value in flat.items():
        leaf = jnp.asarray(value)
        if leaf.size != 1:
            raise ValueError(
                f"metric {key!r}: expected a single number, got an array of shape {leaf.shape}; "
                "reduce it (mean, sum) or log it with log_histogram()"
            )
        leaves.append(leaf.reshape(()))
    dtype = jnp.result_type(*leaves)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.float32
    return PackedMetrics(tuple(flat), jnp.stack([leaf.astype(dtype) for leaf in leaves]))
