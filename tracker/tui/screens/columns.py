"""Provides the choice of metric and config columns for the runs table (defaults and a dialog)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, SelectionList
from textual.widgets.selection_list import Selection

from ...format import clean, flatten
from ...read import common_keys, is_system_key
from ...records import RunInfo

MAX_METRICS = 3
MAX_CONFIG = 3
SAMPLE = 2000  # runs looked at to choose defaults (enough to see which keys vary)


def metric_keys(runs: list[RunInfo]) -> list[str]:
    """Scalar keys by how many runs logged them (most first), losses and accuracies first."""
    return common_keys(runs[:SAMPLE])


def _config_values(runs: list[RunInfo]) -> dict[str, set[str]]:
    values: dict[str, set[str]] = {}
    for run in runs[:SAMPLE]:
        for key, value in flatten(run.config).items():
            values.setdefault(key, set()).add(repr(value))
    return values


def config_keys(runs: list[RunInfo]) -> list[str]:
    """Flattened config keys; the ones whose value differs between runs first."""
    values = _config_values(runs)
    return sorted(values, key=lambda k: (len(values[k]) < 2, k))


def default_columns(runs: list[RunInfo]) -> tuple[list[str], list[str]]:
    """The metric and config columns shown first: common metrics (system metrics only when
    picked: sys/gpu0/util_percent shows GPU use), config keys that vary."""
    values = _config_values(runs)
    varying = sorted(k for k, seen in values.items() if len(seen) > 1 or len(runs) == 1)
    metrics = [k for k in metric_keys(runs) if not is_system_key(k)]
    return metrics[:MAX_METRICS], varying[:MAX_CONFIG]


class ColumnsScreen(ModalScreen["tuple[list[str], list[str]] | None"]):
    """Tick the metrics and config keys to show as columns; enter applies, escape cancels."""

    BINDINGS = [
        Binding("enter", "apply", "Apply"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, runs: list[RunInfo], metrics: list[str], config: list[str]) -> None:
        super().__init__()
        self.metrics = metric_keys(runs)
        self.config = config_keys(runs)
        self.chosen = {("metric", m) for m in metrics} | {("config", c) for c in config}

    def compose(self) -> ComposeResult:
        options = [
            Selection(Text(f"metric  {clean(m)}"), ("metric", m), ("metric", m) in self.chosen)
            for m in self.metrics
        ] + [
            Selection(Text(f"config  {clean(c)}"), ("config", c), ("config", c) in self.chosen)
            for c in self.config
        ]
        with Vertical(classes="dialog columns"):
            yield Label("Columns (space toggles, enter applies)")
            yield SelectionList(*options, id="column-list")

    def action_apply(self) -> None:
        picked = self.query_one(SelectionList).selected
        self.dismiss(([a for kind, a in picked if kind == "metric"],
                      [a for kind, a in picked if kind == "config"]))

    def action_cancel(self) -> None:
        self.dismiss(None)
