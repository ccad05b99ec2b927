"""Provides the graph view: a model graph as a collapsible tree by scope, with search and totals,
and the raw forms stored beside it (JAX: StableHLO, compiled HLO, XLA's cost analysis) as text.

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
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static, TextArea, Tree
from textual.widgets.tree import TreeNode

from ...format import clean, count
from ...graph import Graph, GraphNode

MAX_MATCHES = 500
RAW_NAMES = {"stablehlo": "StableHLO", "keras_json": "Keras JSON", "graphdef": "GraphDef"}


@dataclass
class GraphForm:
    """One way to look at a graph: the tree, or a stored text form shown literally."""

    name: str
    text: str | None = None  # None: the scope tree


def graph_forms(graph: Graph) -> list[GraphForm]:
    """The tree, then each text form the graph carries: its raw form (StableHLO for JAX), the
    compiled HLO and the cost analysis. A binary raw form (a GraphDef) is left to the exporter."""
    forms = [GraphForm("graph tree")]
    raw = graph.raw
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raw = None
    if raw and "\x00" not in raw:
        fmt = graph.raw_format or "raw"
        forms.append(GraphForm(RAW_NAMES.get(fmt, fmt), raw))
    hlo = graph.meta.get("compiled_hlo")
    if isinstance(hlo, str) and hlo:
        forms.append(GraphForm("compiled HLO", hlo))
    costs = graph.meta.get("cost_analysis")
    if isinstance(costs, dict) and costs:
        width = max(len(str(k)) for k in costs)
        lines = [f"{str(k):<{width}}  {_cost(v)}" for k, v in sorted(costs.items(), key=str)]
        forms.append(GraphForm("cost analysis", "\n".join(lines) + "\n"))
    return forms


def _cost(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


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


class GraphTree(Tree[Scope | None]):
    """The scope tree; right/left open and close a scope, and its keys show in the footer."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open/close", key_display="enter",
                tooltip="Expand or collapse the scope"),
        Binding("right", "expand", "Expand", show=False, tooltip="Expand the scope"),
        Binding("left", "collapse", "Collapse", show=False,
                tooltip="Collapse the scope, or go to its parent"),
    ]

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand:
            node.expand()

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded and node.allow_expand:
            node.collapse()
        elif node.parent is not None:
            self.move_cursor(node.parent)


class GraphView(Vertical):
    """Totals, a search box and the scope tree of one graph, or one of its stored text forms."""

    BINDINGS = [
        Binding("v", "next_form", "View",
                tooltip="Switch between the graph tree and the stored text forms "
                        "(StableHLO, compiled HLO, cost analysis)"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graph: Graph | None = None
        self.root_scope = Scope("", "")
        self.forms: list[GraphForm] = [GraphForm("graph tree")]
        self.form = 0

    def compose(self) -> ComposeResult:
        yield Static(id="graph-totals", classes="status-line")
        yield Static(id="graph-forms", classes="status-line")
        yield Input(placeholder="search nodes by name, op or scope", classes="search",
                    id="graph-search")
        yield GraphTree("graph", id="graph-tree")
        yield TextArea(id="graph-raw", read_only=True, soft_wrap=False, show_line_numbers=True)

    def on_mount(self) -> None:
        self.query_one("#graph-raw").display = False
        self.query_one("#graph-forms").display = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_form":
            return len(self.forms) > 1  # hidden from the footer where there is only the tree
        return True

    def action_next_form(self) -> None:
        """Show the next form: tree -> StableHLO -> compiled HLO -> cost analysis -> tree."""
        self.show_form((self.form + 1) % len(self.forms))

    def show_form(self, index: int) -> None:
        """Show ``forms[index]``: the tree with its search box, or a text form, literally."""
        self.form = index
        form = self.forms[index]
        tree_shown = form.text is None
        raw = self.query_one("#graph-raw", TextArea)
        tree = self.query_one("#graph-tree", Tree)
        for widget in (tree, self.query_one("#graph-search")):
            widget.display = tree_shown
        raw.display = not tree_shown
        if form.text is not None:
            raw.load_text(clean(form.text, multiline=True))
        line = Text("view: ", style="dim")
        for i, each in enumerate(self.forms):
            line.append(f" {each.name} ", style="reverse bold" if i == index else "")
        line.append("   v switches", style="dim")
        forms_line = self.query_one("#graph-forms", Static)
        forms_line.update(line)
        forms_line.display = len(self.forms) > 1
        if self.screen.focused in (tree, raw) or self.screen.focused is None:
            (tree if tree_shown else raw).focus()
        self.refresh_bindings()

    def show(self, graph: Graph | None, note: str = "") -> None:
        """Show ``graph`` (None: show ``note``)."""
        self.graph = graph
        totals = self.query_one("#graph-totals", Static)
        tree = self.query_one("#graph-tree", Tree)
        tree.clear()
        self.forms = graph_forms(graph) if graph is not None else [GraphForm("graph tree")]
        self.show_form(0)
        if graph is None:
            totals.update(Text(note or "this run has no graph", style="dim"))
            return
        self.root_scope = build_scopes(graph)
        kinds = Counter(n.kind for n in graph.nodes)
        summary = Text(clean(f"{graph.name} ({graph.framework}, {graph.source})"), style="bold")
        summary.append(f"  {len(graph.nodes)} nodes · {len(graph.edges)} edges · "
                       f"{count(graph.total_params)} params · ")
        summary.append(", ".join(f"{n} {clean(k)}" for k, n in kinds.most_common()))
        if graph.meta.get("raw_error"):
            summary.append(f"  (no raw form: {clean(graph.meta['raw_error'])})", style="dim")
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
