"""The app's layout rules, read from its source: widgets draw (screens read), and the chart is
used only through its package."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import tracker.tui as tui

TUI = Path(tui.__file__).parent
WIDGETS = TUI / "widgets"
CHART = WIDGETS / "chart"
READERS = {"reads", "query", "store", "loader"}  # modules whose import means reading


def imports(path: Path) -> Iterator[ast.ImportFrom]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            yield node


def test_no_widget_reads_the_store_or_runs_a_worker() -> None:
    for path in sorted(WIDGETS.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                parts = set((node.module or "").split("."))
                names = {alias.name for alias in node.names}
                assert not parts & READERS, f"{path.name} imports {node.module}"
                assert "work" not in names and "open_store" not in names, path.name
            elif isinstance(node, ast.Attribute):
                assert node.attr not in ("open_store", "run_worker"), path.name


def test_the_chart_is_used_only_through_its_package() -> None:
    internals = {p.stem for p in CHART.glob("*.py")} - {"__init__"}
    for path in sorted(TUI.rglob("*.py")):
        if CHART in path.parents:
            continue
        for node in imports(path):
            module = (node.module or "").split(".")
            if "chart" in module:
                assert module[-1] == "chart", f"{path.name} imports {node.module}"
            names = {alias.name for alias in node.names}
            assert not (module[-1:] == ["chart"] and names & internals), path.name
