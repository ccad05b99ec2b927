"""The framework-neutral model graph: nodes with scope, op, shapes and parameter counts, and edges.

Hooks build a ``Graph`` from torch.fx, Keras layer configs or a jaxpr and hand it to
``Run.log_graph``; the app shows it as a tree by scope; the exporter turns it into a GraphDef.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class GraphNode:
    """One op or module call. ``scope`` is a '/'-separated path (module path, name scope)."""

    name: str
    op: str
    scope: str = ""
    kind: str = "op"  # op | module | input | output | param | constant
    shape: str | None = None  # output shape(s) as text, e.g. "[32, 10]" or "[32, 10], [32]"
    dtype: str | None = None
    params: int = 0  # parameters owned by this node (not its children)
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """A model graph. ``edges`` are (src, dst) indices into ``nodes``.

    ``raw`` keeps a framework form beside the neutral one (StableHLO text, a GraphDef, a Keras JSON),
    with ``raw_format`` naming it, so nothing is lost for export.
    """

    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)
    name: str = "model"
    framework: str = ""  # torch | keras | tensorflow | jax
    source: str = ""  # fx | hooks | keras_config | tf_function | jaxpr | nnx ...
    raw: bytes | str | None = None
    raw_format: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def add(self, node: GraphNode) -> int:
        """Append a node and return its index."""
        self.nodes.append(node)
        return len(self.nodes) - 1

    def connect(self, src: int, dst: int) -> None:
        """Add an edge from node ``src`` to node ``dst``."""
        self.edges.append((src, dst))

    @property
    def total_params(self) -> int:
        """Sum of the parameters owned by every node."""
        return sum(n.params for n in self.nodes)
