"""Provides the config view: a run's config and summary as a searchable tree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Tree
from textual.widgets.tree import TreeNode

from ...format import clean, number


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return number(value)
    if isinstance(value, str):
        return repr(value) if value == "" else value
    return "null" if value is None else str(value)


class ConfigView(Vertical):
    """Config and summary trees; typing in the search box keeps only matching keys or values."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sections: dict[str, Mapping[str, Any]] = {}

    def compose(self) -> ComposeResult:
        yield Input(placeholder="search keys and values", classes="search", id="config-search")
        tree: Tree[None] = Tree("run", id="config-tree")
        tree.show_root = False
        yield tree

    def show(self, sections: dict[str, Mapping[str, Any]]) -> None:
        """Show named sections (config, summary, run) as top-level branches."""
        self.sections = sections
        self._rebuild(self.query_one("#config-search", Input).value)

    @on(Input.Changed, "#config-search")
    def _search(self, event: Input.Changed) -> None:
        self._rebuild(event.value)

    def _rebuild(self, needle: str) -> None:
        tree = self.query_one("#config-tree", Tree)
        tree.clear()
        needle = needle.strip().lower()
        for name, section in self.sections.items():
            branch = tree.root.add(Text(name, style="bold"), expand=True)
            _add(branch, section, needle)
            if not branch.children:
                branch.add_leaf(Text("(nothing matches)" if needle else "(empty)", style="dim"))
        tree.root.expand()


def _add(node: TreeNode[None], value: Any, needle: str, path: str = "") -> bool:
    """Add ``value``'s items under ``node``; True if anything matched ``needle``."""
    items = value.items() if isinstance(value, Mapping) else enumerate(value)
    matched_any = False
    for key, item in items:
        label = f"[{key}]" if isinstance(key, int) else clean(key)
        full = f"{path}.{label}" if path else label
        if isinstance(item, (Mapping, list)) and item:
            child = node.add(Text(label, style="bold"), expand=bool(needle) or len(item) <= 20)
            hit = _add(child, item, needle if needle not in full.lower() else "", full)
            if not hit:
                child.remove()
            matched_any |= hit
            continue
        shown = clean(_value_text(item))
        if needle and needle not in full.lower() and needle not in shown.lower():
            continue
        line = Text(label, style="bold")
        line.append(" = ")
        line.append(shown)
        node.add_leaf(line)
        matched_any = True
    return matched_any
