"""Provides the graph view: a model graph as a collapsible tree by scope, with search and totals.

Children are added to the Tree only when a scope is expanded, so graphs of thousands of nodes
open at once and stay responsive.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static, Tree
from textual.widgets.tree import TreeNode

from ...graph import Graph, GraphNode
from ..format import clean, count

MAX_MATCHES = 500


@dataclass
class Scope:
    """A scope in the graph: child scopes, the nodes directly in it, and totals below it."""

    name: str
    path: str
    children: dict[str, Scope] = field(default_factory=dict)
    nodes: list[GraphNode] = field(default_factory=list)
    total_nodes: int = 0
    total_params: int = 0


def build_scopes(graph: Graph) -> Scope:
    """The scope tree of ``graph`` with node and parameter totals per scope."""
    root = Scope("", "")
    for node in graph.nodes:
        scope = root
        scope.total_nodes += 1
        scope.total_params += node.params
        if node.scope:
            path = ""
            for part in node.scope.split("/"):
                path = f"{path}/{part}" if path else part
                scope = scope.children.setdefault(part, Scope(part, path))
                scope.total_nodes += 1
                scope.total_params += node.params
        scope.nodes.append(node)
    return root


def node_label(node: GraphNode, *, with_scope: bool = False) -> Text:
    """One graph node: name, op, output shape, dtype and parameters, literally."""
    text = Text(clean(f"{node.scope}/{node.name}" if with_scope and node.scope else node.name),
                style="bold")
    text.append(f"  {clean(node.op)}", style="cyan")
    if node.shape:
        text.append(f"  {clean(node.shape)}")
    if node.dtype:
        text.append(f"  {clean(node.dtype)}", style="dim")
    if node.params:
        text.append(f"  {count(node.params)} params", style="green")
    if node.kind not in ("op", "module"):
        text.append(f"  [{clean(node.kind)}]", style="dim")
    return text


def scope_label(scope: Scope) -> Text:
    text = Text(clean(scope.name), style="bold")
    text.append(f"  {scope.total_nodes} nodes", style="dim")
    if scope.total_params:
        text.append(f"  {count(scope.total_params)} params", style="green")
    return text


class GraphView(Vertical):
    """Totals, a search box and the scope tree of one graph."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graph: Graph | None = None
        self.root_scope = Scope("", "")

    def compose(self) -> ComposeResult:
        yield Static(id="graph-totals", classes="status-line")
        yield Input(placeholder="search nodes by name, op or scope", classes="search",
                    id="graph-search")
        tree: Tree[Scope | None] = Tree("graph", id="graph-tree")
        yield tree

    def show(self, graph: Graph | None, note: str = "") -> None:
        """Show ``graph`` (None: show ``note``)."""
        self.graph = graph
        totals = self.query_one("#graph-totals", Static)
        tree = self.query_one("#graph-tree", Tree)
        tree.clear()
        if graph is None:
            totals.update(Text(note or "this run has no graph", style="dim"))
            return
        self.root_scope = build_scopes(graph)
        kinds = Counter(n.kind for n in graph.nodes)
        summary = Text(clean(f"{graph.name} ({graph.framework}, {graph.source})"), style="bold")
        summary.append(f"  {len(graph.nodes)} nodes · {len(graph.edges)} edges · "
                       f"{count(graph.total_params)} params · ")
        summary.append(", ".join(f"{n} {clean(k)}" for k, n in kinds.most_common()))
        totals.update(summary)
        tree.root.set_label(scope_label(self.root_scope) if graph.nodes else Text("(empty)"))
        tree.root.data = self.root_scope
        self._populate(tree.root)
        tree.root.expand()
        self.query_one("#graph-search", Input).value = ""

    def _populate(self, node: TreeNode[Scope | None]) -> None:
        scope = node.data
        if scope is None or node.children:
            return
        for child in scope.children.values():
            node.add(scope_label(child), data=child, allow_expand=True)
        for graph_node in scope.nodes:
            node.add_leaf(node_label(graph_node), data=None)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        event.stop()
        self._populate(event.node)

    @on(Input.Changed, "#graph-search")
    def _search(self, event: Input.Changed) -> None:
        if self.graph is None:
            return
        needle = event.value.strip().lower()
        tree = self.query_one("#graph-tree", Tree)
        tree.clear()
        if not needle:
            tree.root.data = self.root_scope
            self._populate(tree.root)
            tree.root.expand()
            return
        matches = [n for n in self.graph.nodes
                   if needle in n.name.lower() or needle in n.op.lower() or
                   needle in n.scope.lower()]
        tree.root.data = None
        tree.root.set_label(Text(f"{len(matches)} matching nodes"))
        for node in matches[:MAX_MATCHES]:
            tree.root.add_leaf(node_label(node, with_scope=True))
        if len(matches) > MAX_MATCHES:
            tree.root.add_leaf(Text(f"… {len(matches) - MAX_MATCHES} more", style="dim"))
        tree.root.expand()
