"""Provides the charts panel: a metric picker and one line chart per chosen metric, for 1+ runs.

Reads happen in thread workers (keys, curves, live tails); the panel keeps what it read so that
switching the x axis needs no new read, and a live tick asks only for points after those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Static

from ...query import common_keys
from ...records import KeyInfo, RunInfo
from ..loader import CurveData, curve, scalar_keys, tail
from ..messages import Loaded
from .chart import ChartSeries, LineChart
from .metric_picker import MetricPicker

if TYPE_CHECKING:
    from ..app import TrackerApp

X_MODES = ("step", "wall", "relative")
LIVE_INTERVAL = 0.25  # 4 Hz
GRID_DEFAULT = 4  # charts shown at first in grid mode


@dataclass
class _LoggedKeys:
    """What ``query.common_keys`` reads of a run: the keys it logged."""

    last: dict[str, float]


# The first part of the keys the framework hooks log about the model itself (activation stats,
# gradient and weight norms): charts of the user's own metrics open before them.
HOOK_PREFIXES = ("act_", "grad_norm", "weight_norm", "update_ratio", "grads", "weights")


def is_hook_key(key: str) -> bool:
    """Whether ``key`` is a diagnostic a hook logged (``act_mean/fc1``, ``grad_norm/w``)."""
    return key.split("/", 1)[0].startswith(HOOK_PREFIXES)


def preferred_keys(keys_by_run: dict[str, list[KeyInfo]]) -> list[str]:
    """Keys in the order charts open by default, ranked as ``query.common_keys`` ranks the runs
    table's columns (logged by the most runs first, then losses, then accuracies, then the
    shallowest), with the hooks' diagnostics after the user's own metrics: a key only one
    compared run has, or an all-zero activation stat, does not open first.
    """
    runs = [_LoggedKeys({k.key: 0.0 for k in infos}) for infos in keys_by_run.values()]
    return sorted(common_keys(cast("list[RunInfo]", runs)), key=is_hook_key)


def first_key(keys_by_run: dict[str, list[KeyInfo]]) -> str | None:
    """The key whose chart opens first."""
    keys = preferred_keys(keys_by_run)
    return keys[0] if keys else None


def chart_buckets(screen_width: int) -> int:
    """Min/max buckets for a chart on a screen this wide: about one per braille pixel column."""
    return max(256, 4 * screen_width)


@dataclass
class RunRef:
    """A run as the panel draws it: id, legend name, palette colour, whether it is still going."""

    id: str
    name: str
    color: int
    running: bool = False


@dataclass
class ChartState:
    """What one chart shows: its key and the curves read for it (one per run)."""

    key: str
    curves: dict[str, CurveData] = field(default_factory=dict)
    window: tuple[float, float] | None = None  # the x range the reduced curves were read for


class ChartsPanel(Horizontal):
    """Metric picker on the left, charts on the right (one per metric, or a grid)."""

    BINDINGS = [
        Binding("v", "grid", "Grid"),
        Binding("x", "x_mode", "X axis"),
        Binding("p", "focus_picker", "Find metric",
                tooltip="Search the metrics (enter goes to the first match)"),
    ]

    def __init__(self, runs: list[RunRef], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runs = runs
        self.charts: dict[str, ChartState] = {}
        self.keys: list[str] = []
        self.ranked: list[str] = []  # keys in the order charts open by default
        self.x_mode = "step"
        self.grid = False
        self.counts: dict[tuple[str, str], int] = {}
        self._live_timer: Timer | None = None

    @property
    def tracker(self) -> TrackerApp:
        return cast("TrackerApp", self.app)

    def compose(self) -> ComposeResult:
        yield MetricPicker()
        with Vertical(id="chart-area"):
            # Laid out before any data comes, so the first curves only need a redraw.
            chart = LineChart(id="chart-first")
            chart.title = "loading…"
            yield chart

    def on_mount(self) -> None:
        self.load_keys()
        if self.tracker.live and any(r.running for r in self.runs):
            self._live_timer = self.set_interval(LIVE_INTERVAL, self.live_tick)

    def set_running(self, run_id: str, running: bool) -> None:
        """A run started or stopped going: a stopped one gets one last tail, then no more."""
        if not running:
            self.live_tick()  # the points it logged since the last tick
        for ref in self.runs:
            if ref.id == run_id:
                ref.running = running
        if self._live_timer is not None and not any(r.running for r in self.runs):
            self._live_timer.stop()
            self._live_timer = None

    # -- reading ----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="chart-keys", exit_on_error=False)
    def load_keys(self) -> None:
        # The keys and the first chart's curves in one read: one trip through the event loop.
        with self.tracker.open_store() as store:
            keys = scalar_keys(store, [r.id for r in self.runs])
            key = first_key(keys)
            counts = {(r, k.key): k.count for r, infos in keys.items() for k in infos}
            buckets = chart_buckets(self.app.size.width)
            curves = [curve(store, r.id, key, buckets, count=counts.get((r.id, key)))
                      for r in self.runs if (r.id, key) in counts] if key else []
        self.post_message(Loaded("keys", (keys, curves)))

    @work(thread=True, group="chart-curves", exit_on_error=False)
    def load_curves(self, key: str, buckets: int, window: tuple[float, float] | None) -> None:
        start, end = (None, None) if window is None else (int(window[0]), int(np.ceil(window[1])))
        with self.tracker.open_store() as store:
            curves = [curve(store, r.id, key, buckets, start, end, self.counts.get((r.id, key)))
                      for r in self.runs if (r.id, key) in self.counts]
        self.post_message(Loaded("curves", curves, token=(key, window)))

    @work(thread=True, exclusive=True, group="chart-tail", exit_on_error=False)
    def load_tails(self, wanted: list[tuple[str, str, float]]) -> None:
        with self.tracker.open_store() as store:
            tails = [tail(store, run_id, key, after) for run_id, key, after in wanted]
        self.post_message(Loaded("tails", [t for t in tails if len(t.steps)]))

    def live_tick(self) -> None:
        wanted = []
        running = {r.id for r in self.runs if r.running}
        for state in self.charts.values():
            for run_id, data in state.curves.items():
                if run_id in running:
                    wanted.append((run_id, state.key, data.last_step))
        if wanted:
            self.load_tails(wanted)

    def on_loaded(self, message: Loaded) -> None:
        message.stop()
        if message.what == "keys":
            self._keys_loaded(*message.data)
        elif message.what == "curves":
            self._curves_loaded(message.token, message.data)
        elif message.what == "tails":
            self._tails_loaded(message.data)

    def _keys_loaded(self, keys_by_run: dict[str, list[Any]], curves: list[CurveData]) -> None:
        for run_id, infos in keys_by_run.items():
            for info in infos:
                self.counts[(run_id, info.key)] = info.count
        self.keys = sorted({k for _, k in self.counts})
        self.ranked = preferred_keys(keys_by_run)
        first = self.ranked[: GRID_DEFAULT if self.grid else 1]
        self.query_one(MetricPicker).set_keys(self.keys, set(first))
        placeholder = self.query_one("#chart-first", LineChart)
        if not self.keys:
            placeholder.remove()
            self.query_one("#chart-area").mount(
                Static(Text("no scalar metrics logged yet", style="dim"), classes="chart-hint"))
            return
        self.charts[first[0]] = ChartState(first[0])
        self._label(placeholder, first[0])
        self._curves_loaded((first[0], None), curves)
        for key in first[1:]:
            self.show_chart(key)
        focused = self.screen.focused
        if focused is None or self in focused.ancestors:
            placeholder.focus()  # arrows move the crosshair right away (unless the user moved on)

    def _label(self, chart: LineChart, key: str) -> None:
        chart.title = key
        chart.x_label = self.x_mode
        chart.chart_key = key  # type: ignore[attr-defined]

    # -- charts -----------------------------------------------------------------------------------
    def show_chart(self, key: str) -> None:
        """Add a chart for ``key`` and start reading its curves."""
        if key in self.charts:
            return
        area = self.query_one("#chart-area")
        area.query(".chart-hint").remove()
        self.charts[key] = ChartState(key)
        chart = LineChart(id=f"chart-{len(self.charts)}-{abs(hash(key)) % 10**8}")
        self._label(chart, key)
        area.mount(chart)
        self.load_curves(key, self._buckets(), None)

    def hide_chart(self, key: str) -> None:
        """Remove the chart of ``key``."""
        self.charts.pop(key, None)
        for chart in self.query(LineChart):
            if getattr(chart, "chart_key", None) == key:
                chart.remove()

    def chart_for(self, key: str) -> LineChart | None:
        for chart in self.query(LineChart):
            if getattr(chart, "chart_key", None) == key:
                return chart
        return None

    def _buckets(self) -> int:
        return chart_buckets(self.query_one("#chart-area").size.width or self.app.size.width)

    def _curves_loaded(self, token: tuple[str, Any], curves: list[CurveData]) -> None:
        key, window = token
        state = self.charts.get(key)
        chart = self.chart_for(key)
        if state is None or chart is None:
            return
        for data in curves:
            old = state.curves.get(data.run_id)
            if old is not None and data.reduced and not old.reduced:
                continue
            state.curves[data.run_id] = data
        chart.set_series(self._series(state), keep_view=window is not None)

    def _tails_loaded(self, tails: list[CurveData]) -> None:
        for new in tails:
            state = self.charts.get(new.key)
            data = state.curves.get(new.run_id) if state else None
            chart = self.chart_for(new.key)
            if data is None or chart is None:
                continue
            data.steps = np.concatenate([data.steps, new.steps])
            data.values = np.concatenate([data.values, new.values])
            if data.walls is not None:
                data.walls = np.concatenate([data.walls, new.walls])
            if data.mins is not None:
                data.mins = np.concatenate([data.mins, new.values])
                data.maxs = np.concatenate([data.maxs, new.values])
            data.count += new.count
            data.last_step = max(data.last_step, new.last_step)
            x = self._x(data)[-len(new.steps):]
            chart.append_points(self._legend_name(new.run_id), x, new.values)

    def _legend_name(self, run_id: str) -> str:
        return next(r.name for r in self.runs if r.id == run_id)

    def _x(self, data: CurveData) -> np.ndarray:
        if self.x_mode == "step" or data.walls is None:
            return data.steps
        if self.x_mode == "wall":
            return data.walls
        return data.walls - (data.walls[0] if len(data.walls) else 0.0)

    def _series(self, state: ChartState) -> list[ChartSeries]:
        out = []
        for run in self.runs:
            data = state.curves.get(run.id)
            if data is None:
                continue
            x = self._x(data)
            order = np.arange(len(x))
            if len(x) > 1 and np.any(np.diff(x) < 0):  # steps that went back: draw in x order
                order = np.argsort(x, kind="stable")

            def pick(a: np.ndarray, order: np.ndarray = order) -> np.ndarray:
                return a[order]

            out.append(ChartSeries(
                name=run.name, x=pick(x), y=pick(data.values),
                ymin=None if data.mins is None else pick(data.mins),
                ymax=None if data.maxs is None else pick(data.maxs), color=run.color))
        return out

    def on_line_chart_view_changed(self, event: LineChart.ViewChanged) -> None:
        key = getattr(event.chart, "chart_key", None)
        state = self.charts.get(key or "")
        if state is None or self.x_mode != "step":
            return
        if event.chart.view is None and state.window is None:
            return  # the whole range, as already read
        if any(d.reduced for d in state.curves.values()):
            window = None if event.chart.view is None else (event.x_min, event.x_max)
            state.window = window
            self.load_curves(state.key, self._buckets(), window)

    def on_metric_picker_toggled(self, event: MetricPicker.Toggled) -> None:
        if event.key in self.charts:
            self.hide_chart(event.key)
        else:
            self.show_chart(event.key)
        self.query_one(MetricPicker).set_shown(set(self.charts))

    # -- actions ----------------------------------------------------------------------------------
    def action_grid(self) -> None:
        self.grid = not self.grid
        self.query_one("#chart-area").set_class(self.grid, "grid")
        if self.grid:
            for key in self.ranked[:GRID_DEFAULT]:
                self.show_chart(key)
            self.query_one(MetricPicker).set_shown(set(self.charts))

    def action_x_mode(self) -> None:
        self.x_mode = X_MODES[(X_MODES.index(self.x_mode) + 1) % len(X_MODES)]
        reduced = any(d.reduced for s in self.charts.values() for d in s.curves.values())
        if reduced and self.x_mode != "step":
            self.notify("long series are drawn from min/max buckets by step; x stays step for them")
        for state in self.charts.values():
            chart = self.chart_for(state.key)
            if chart is not None:
                chart.x_label = {"step": "step", "wall": "wall time",
                                 "relative": "time since start (s)"}[self.x_mode]
                chart.set_series(self._series(state))

    def action_focus_picker(self) -> None:
        self.query_one("#metric-search").focus()


