"""Provides the metric picker: scalar keys as a tree by '/' prefixes, with search."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Tree
from textual.widgets.tree import TreeNode

from ...format import clean

SHOWN_MARK = "● "


class MetricTree(Tree[str | None]):
    """The picker's tree; its enter key shows in the footer while it has the focus."""

    BINDINGS = [Binding("enter", "select_cursor", "Chart on/off", key_display="enter",
                        tooltip="Show or hide the chart of this metric")]


class MetricPicker(Vertical):
    """Keys grouped by their '/' prefixes; enter or click on a key shows or hides its chart."""

    BINDINGS = [
        Binding("j", "down", "Down", show=False),
        Binding("k", "up", "Up", show=False),
    ]

    class Toggled(Message):
        """The user asked to show or hide the chart of ``key``."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keys: list[str] = []
        self.shown: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search metrics", classes="search", id="metric-search")
        tree = MetricTree("metrics", id="metric-tree")
        tree.show_root = False
        tree.guide_depth = 2
        yield tree

    def set_keys(self, keys: list[str], shown: set[str]) -> None:
        """The keys to offer and the ones whose charts are shown."""
        self.keys, self.shown = sorted(keys), set(shown)
        self._rebuild()

    def set_shown(self, shown: set[str]) -> None:
        """Mark the keys whose charts are shown."""
        self.shown = set(shown)
        tree = self.query_one("#metric-tree", Tree)
        stack = [tree.root]
        while stack:
            node = stack.pop()
            stack.extend(node.children)
            if node.data:
                node.set_label(self._label(node.data, node.data.rsplit("/", 1)[-1]))

    def _label(self, key: str, leaf: str) -> Text:
        mark = SHOWN_MARK if key in self.shown else "  "
        return Text(mark + clean(leaf), style="bold" if key in self.shown else "")

    @on(Input.Changed, "#metric-search")
    def _search(self, event: Input.Changed) -> None:
        self._rebuild()

    @on(Input.Submitted, "#metric-search")
    def _submitted(self, event: Input.Submitted) -> None:
        """To the tree, on the first key that matches (enter there shows its chart)."""
        tree = self.query_one("#metric-tree", Tree)
        tree.focus()
        first = next((line for line in range(tree.last_line + 1)
                      if (node := tree.get_node_at_line(line)) is not None and node.data), None)
        if first is not None:
            tree.cursor_line = first

    def _rebuild(self) -> None:
        tree = self.query_one("#metric-tree", Tree)
        tree.clear()
        needle = self.query_one("#metric-search", Input).value.strip().lower()
        branches: dict[str, TreeNode[str | None]] = {}
        for key in self.keys:
            if needle and needle not in key.lower():
                continue
            parts = key.split("/")
            parent = tree.root
            prefix = ""
            for part in parts[:-1]:
                prefix = f"{prefix}/{part}" if prefix else part
                if prefix not in branches:
                    branches[prefix] = parent.add(Text(clean(part) + "/", style="dim"),
                                                  expand=True)
                parent = branches[prefix]
            parent.add_leaf(self._label(key, parts[-1]), data=key)
        tree.root.expand()

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        if event.node.data:
            self.post_message(self.Toggled(event.node.data))

    def action_down(self) -> None:
        self.query_one("#metric-tree", Tree).action_cursor_down()

    def action_up(self) -> None:
        self.query_one("#metric-tree", Tree).action_cursor_up()
