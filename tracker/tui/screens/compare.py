"""Provides the compare screen: runs overlaid on shared charts, a config diff, metric stats and
their images side by side (same key, same step)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane

from ...format import flatten
from ...format import clean, number
from ...records import KeyInfo, RunInfo
from ..messages import CompareLoaded
from ..reads import compared_runs
from ..widgets.chart import PALETTE
from ..widgets.charts_panel import RunRef
from ..widgets.footer import TrackerFooter
from ..widgets.images_panel import ImagesPanel
from .charts import ChartsScreen
from .images import ImagesTab


def config_diff(runs: list[RunInfo]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The flattened config keys whose values differ between runs, and every run's values."""
    flat = {r.id: flatten(r.config) for r in runs}
    keys = sorted({k for values in flat.values() for k in values})
    differ = [k for k in keys
              if len({repr(values.get(k, _MISSING)) for values in flat.values()}) > 1]
    return differ, flat


_MISSING = object()


def _value(value: Any) -> str:
    if value is _MISSING:
        return "—"
    if isinstance(value, float):
        return number(value)
    return "null" if value is None else str(value)


class CompareScreen(ImagesTab, ChartsScreen):
    """Several runs: shared charts with one colour per run, config diff, last/min/max."""

    AUTO_FOCUS = None  # the first chart takes the focus when it is drawn, not a search box
    BINDINGS = [
        Binding("escape", "back", "Back", priority=True),
        Binding("1", "tab('compare-charts')", "Charts", show=False),
        Binding("2", "tab('compare-config')", "Config diff", show=False),
        Binding("3", "tab('compare-metrics')", "Metrics", show=False),
        Binding("4", "tab('compare-images')", "Images", show=False),
    ]

    def __init__(self, runs: list[RunInfo]) -> None:
        super().__init__()
        self.run_ids = [r.id for r in runs]
        self.image_run_ids = self.run_ids
        self.refs = _refs(runs)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(classes="run-header", id="compare-header")
        with TabbedContent(id="compare-tabs"):
            with TabPane("Charts", id="compare-charts"):
                yield self.charts_panel_for(self.refs)
            with TabPane("Config diff", id="compare-config"):
                yield DataTable(id="config-diff", zebra_stripes=True, cursor_type="row")
            with TabPane("Metrics", id="compare-metrics"):
                yield DataTable(id="metric-stats", zebra_stripes=True, cursor_type="row")
            with TabPane("Images", id="compare-images"):
                yield ImagesPanel([(ref.id, ref.name) for ref in self.refs])
        yield TrackerFooter()

    def on_mount(self) -> None:
        header = Text(f"{len(self.refs)} runs: ")
        for ref in self.refs:
            header.append(f"■ {clean(ref.name)}  ", style=f"bold {_palette_style(ref.color)}")
        self.query_one("#compare-header", Static).update(header)
        self.load()
        self.read_image_keys()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def load(self) -> None:
        with self.tracker.open_store() as store:
            runs, keys = compared_runs(store, self.run_ids)
        self.post_message(CompareLoaded(runs, keys))

    def on_compare_loaded(self, message: CompareLoaded) -> None:
        runs, keys = message.runs, message.keys
        refs = [next(r for r in self.refs if r.id == run.id) for run in runs]
        self._fill_diff(runs, refs)
        self._fill_stats(runs, refs, keys)

    def _fill_diff(self, runs: list[RunInfo], refs: list[RunRef]) -> None:
        table = self.query_one("#config-diff", DataTable)
        differ, flat = config_diff(runs)
        table.add_column(Text("key", style="bold"), key="key")
        for ref in refs:
            table.add_column(Text(clean(ref.name), style=f"bold {_palette_style(ref.color)}"))
        if not differ:
            table.add_row(Text("the configs are the same", style="dim"), *[""] * len(refs))
        for key in differ:
            table.add_row(Text(clean(key)),
                          *(Text(clean(_value(flat[r.id].get(key, _MISSING)))) for r in runs))

    def _fill_stats(self, runs: list[RunInfo], refs: list[RunRef],
                    keys: dict[str, list[KeyInfo]]) -> None:
        table = self.query_one("#metric-stats", DataTable)
        table.add_column(Text("metric", style="bold"))
        table.add_column(Text("run", style="bold"))
        for label in ("last", "min", "max", "points", "last step"):
            table.add_column(Text(label, style="bold"))
        metrics = sorted({k.key for infos in keys.values() for k in infos})
        for metric in metrics:
            for run, ref in zip(runs, refs):
                info = next((k for k in keys.get(run.id, []) if k.key == metric), None)
                if info is None:
                    continue
                table.add_row(
                    Text(clean(metric)), Text(clean(ref.name), style=_palette_style(ref.color)),
                    Text(number(info.last_value), justify="right"),
                    Text(number(info.min), justify="right"),
                    Text(number(info.max), justify="right"),
                    Text(str(info.count), justify="right"),
                    Text("" if info.last_step is None else str(info.last_step), justify="right"),
                )

    def action_tab(self, tab: str) -> None:
        self.show_tab(tab)


def _refs(runs: list[RunInfo]) -> list[RunRef]:
    """One colour per run in selection order; names made unique so legends never collide."""
    seen: dict[str, int] = {}
    refs = []
    for i, run in enumerate(runs):
        name = run.name
        if name in seen:
            name = f"{name} ({run.id[:4]})"
        seen[name] = i
        refs.append(RunRef(run.id, name, i, run.status == "running"))
    return refs


def _palette_style(index: int) -> str:
    return PALETTE[index % len(PALETTE)]
