"""Provides the charts panel: a metric picker and one line chart per chosen metric, for 1+ runs.

The panel reads nothing: its screen reads the runs' keys when it creates the panel, the panel asks
for the curves of each chart the user opens or zooms (``CurvesWanted``), and it is handed what was
read (``show_keys``, ``show_curves``, ``add_tails``). It keeps what it was given, so that
switching the x axis needs no new read and a live tick asks only for newer points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static

from ..metric_order import preferred_keys
from ..results import ChartKeys, CurveData, TailMark
from .chart import ChartSeries, LineChart
from .metric_picker import MetricPicker

X_MODES = ("step", "wall", "relative")
GRID_DEFAULT = 4  # charts shown at first in grid mode


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
    generation: int = 0  # the last read asked for: an older result is stale


class ChartsPanel(Horizontal):
    """Metric picker on the left, charts on the right (one per metric, or a grid)."""

    BINDINGS = [
        Binding("v", "grid", "Grid"),
        Binding("x", "x_mode", "X axis"),
        Binding("p", "focus_picker", "Find metric",
                tooltip="Search the metrics (enter goes to the first match)"),
        Binding("l", "logs_at", "Logs here",
                tooltip="The console output at the crosshair's step (the Logs tab)"),
    ]

    class StepChosen(Message):
        """The user asked for the console output at ``step`` (the crosshair's point)."""

        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

    class CurvesWanted(Message):
        """The user asked for a chart, or zoomed one: read ``key``'s curves over ``window``."""

        def __init__(self, panel: ChartsPanel, key: str, counts: dict[str, int], buckets: int,
                     window: tuple[float, float] | None, generation: int) -> None:
            super().__init__()
            self.panel = panel
            self.key = key
            self.counts = counts  # run id -> points stored, for each run that logged the key
            self.buckets = buckets
            self.window = window
            self.generation = generation

        @property
        def control(self) -> ChartsPanel:
            return self.panel

    def __init__(self, runs: list[RunRef], *, keys_filter: Callable[[str], bool] | None = None,
                 grid: bool = False, grid_size: int = GRID_DEFAULT, x_mode: str = "step",
                 step_jump: bool = False, **kwargs: Any) -> None:
        """``keys_filter``: the keys this panel charts (the System tab's sys/ series);
        ``step_jump``: the l key asks for the logs at the crosshair's step (``StepChosen``)."""
        super().__init__(**kwargs)
        self.runs = runs
        self.charts: dict[str, ChartState] = {}
        self.keys: list[str] = []
        self.ranked: list[str] = []  # keys in the order charts open by default
        self.keys_filter = keys_filter
        self.x_mode = x_mode
        self.grid = grid
        self.grid_size = grid_size
        self.step_jump = step_jump
        self.keys_shown = False
        self._pending_keys: ChartKeys | None = None
        self.counts: dict[tuple[str, str], int] = {}
        self._generation = 0  # counts curve requests, so that a stale result can be told

    def compose(self) -> ComposeResult:
        yield MetricPicker()
        with Vertical(id="chart-area", classes="grid" if self.grid else ""):
            # Laid out before any data comes, so the first curves only need a redraw.
            chart = LineChart(id="chart-first")
            chart.title = "loading…"
            yield chart

    @property
    def live(self) -> bool:
        """Whether any charted run is still going (its curves grow)."""
        return any(r.running for r in self.runs)

    def set_running(self, run_id: str, running: bool) -> None:
        """A run started or stopped going (a stopped one is no longer tailed)."""
        for ref in self.runs:
            if ref.id == run_id:
                ref.running = running

    # -- data in ----------------------------------------------------------------------------------
    def keys_read(self, read: ChartKeys) -> None:
        """The keys came: shown now, or once this panel is mounted (a tab's panel mounted late)."""
        if self.is_mounted:
            self.show_keys(read)
        else:
            self._pending_keys = read

    def on_mount(self) -> None:
        pending, self._pending_keys = self._pending_keys, None
        if pending is not None:
            self.show_keys(pending)

    def tail_marks(self) -> list[TailMark]:
        """Where each shown curve of a running run stands: a live tick reads what came after."""
        running = {r.id for r in self.runs if r.running}
        return [TailMark(run_id, state.key, data.last_step)
                for state in self.charts.values()
                for run_id, data in state.curves.items() if run_id in running]

    def show_keys(self, read: ChartKeys) -> None:
        """The runs' scalar keys came, with the first chart's curves: fill the picker, draw."""
        if self.keys_shown:  # a screen with two panels hands each the keys it read for either
            return
        self.keys_shown = True
        wanted = self.keys_filter or (lambda key: True)
        keys = {run_id: [i for i in infos if wanted(i.key)] for run_id, infos in read.keys.items()}
        for run_id, infos in keys.items():
            for info in infos:
                self.counts[(run_id, info.key)] = info.count
        self.keys = sorted({k for _, k in self.counts})
        self.ranked = preferred_keys(keys)
        first = self.ranked[: self.grid_size if self.grid else 1]
        self.query_one(MetricPicker).set_keys(self.keys, set(first))
        placeholder = self.query_one("#chart-first", LineChart)
        if not self.keys:
            placeholder.remove()
            self.query_one("#chart-area").mount(
                Static(Text("no scalar metrics logged yet", style="dim"), classes="chart-hint"))
            return
        self.charts[first[0]] = ChartState(first[0])
        self._label(placeholder, first[0])
        if read.curves and read.curves[0].key == first[0]:  # the reader ranks keys as above
            self.show_curves(first[0], None, 0, read.curves)
        else:  # (this panel's first key is another)
            self._want_curves(first[0], None)
        for key in first[1:]:
            self.show_chart(key)
        focused = self.screen.focused
        if focused is None or self in focused.ancestors:
            placeholder.focus()  # arrows move the crosshair right away (unless the user moved on)

    def show_curves(self, key: str, window: tuple[float, float] | None, generation: int,
                    curves: list[CurveData]) -> None:
        """Curves read for the chart of ``key`` (dropped if the chart is gone or asked again)."""
        state = self.charts.get(key)
        chart = self.chart_for(key)
        if state is None or chart is None or generation != state.generation:
            return
        for data in curves:
            old = state.curves.get(data.run_id)
            if old is not None and data.reduced and not old.reduced:
                continue
            state.curves[data.run_id] = data
        chart.set_series(self._series(state), keep_view=window is not None)

    def add_tails(self, tails: list[tuple[TailMark, CurveData]]) -> None:
        """New points of live curves; a tail read after a mark the curve has left is dropped."""
        for mark, new in tails:
            state = self.charts.get(new.key)
            data = state.curves.get(new.run_id) if state else None
            chart = self.chart_for(new.key)
            if data is None or chart is None or data.last_step != mark.after:
                continue
            data.steps = np.concatenate([data.steps, new.steps])
            data.values = np.concatenate([data.values, new.values])
            if data.walls is not None and new.walls is not None:
                data.walls = np.concatenate([data.walls, new.walls])
            if data.mins is not None and data.maxs is not None:
                data.mins = np.concatenate([data.mins, new.values])
                data.maxs = np.concatenate([data.maxs, new.values])
            data.count += new.count
            data.last_step = max(data.last_step, new.last_step)
            x = self._x(data)[-len(new.steps):]
            chart.append_points(self._legend_name(new.run_id), x, new.values)

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
        self._want_curves(key, None)

    def _want_curves(self, key: str, window: tuple[float, float] | None) -> None:
        state = self.charts[key]
        self._generation += 1
        state.generation = self._generation
        counts = {r.id: self.counts[(r.id, key)] for r in self.runs if (r.id, key) in self.counts}
        # Straight to the screen, which reads: bubbling up through the tabs' containers costs an
        # event-loop turn per level before the read starts.
        self.screen.post_message(self.CurvesWanted(self, key, counts, self._buckets(), window,
                                                   state.generation))

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
            self._want_curves(state.key, window)

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
            for key in self.ranked[:self.grid_size]:
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.step_jump if action == "logs_at" else True

    def step_at_cursor(self) -> int | None:
        """The step of the logged point nearest the focused chart's crosshair (None: none)."""
        chart = self.screen.focused
        if not isinstance(chart, LineChart) or chart.cursor_x is None:
            charts = [c for c in self.query(LineChart) if c.cursor_x is not None]
            if not charts:
                return None
            chart = charts[0]
        state = self.charts.get(getattr(chart, "chart_key", "") or "")
        cursor = chart.cursor_x
        if state is None or cursor is None:
            return None
        best: tuple[float, int] | None = None
        for data in state.curves.values():
            x = self._x(data)
            if len(x):
                i = int(np.argmin(np.abs(x - cursor)))
                distance = abs(float(x[i]) - cursor)
                if best is None or distance < best[0]:
                    best = (distance, int(data.steps[i]))
        return None if best is None else best[1]

    def action_logs_at(self) -> None:
        step = self.step_at_cursor()
        if step is None:
            self.notify("move the crosshair (arrow keys) to a point first")
            return
        self.post_message(self.StepChosen(step))
