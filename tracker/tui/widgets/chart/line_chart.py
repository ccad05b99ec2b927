"""Provides LineChart, a braille line chart of many series with zoom, pan, crosshair and EMA."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from .data import ChartSeries, SeriesData
from .frame import FrameSpec, FrameStyles, Geometry, build_frame, data_window
from .raster import nearest_index

__all__ = ["ChartSeries", "LineChart", "PALETTE", "SMOOTHING_STEPS"]

# Distinct on dark and light backgrounds (Tableau 10, slightly brightened for dark terminals).
PALETTE = ("#4e9be6", "#f28e2b", "#59a14f", "#e15759", "#b07aa1",
           "#76b7b2", "#d4a72c", "#ff9da7", "#9c755f", "#a0a0a0")
SMOOTHING_STEPS = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99, 0.999)  # what the s / S keys step through


class LineChart(Widget, can_focus=True):
    """A braille line chart: each series reduced to min/max per pixel column of the window."""

    DEFAULT_CSS = """
    LineChart { height: 1fr; min-height: 6; }
    LineChart > .line-chart--axis { color: $text-muted; }
    LineChart > .line-chart--title { color: $text; text-style: bold; }
    LineChart > .line-chart--note { color: $text-muted; }
    LineChart > .line-chart--hint { color: $text-muted; text-style: italic; }
    LineChart > .line-chart--cursor { background: $foreground 15%; }
    LineChart:focus > .line-chart--title { color: $accent; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "line-chart--axis", "line-chart--title", "line-chart--note", "line-chart--hint",
        "line-chart--cursor",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("plus,equals_sign", "zoom(2)", "Zoom in"),
        Binding("minus", "zoom(0.5)", "Zoom out"),
        Binding("left_square_bracket,shift+left", "pan(-0.25)", "Pan left"),
        Binding("right_square_bracket,shift+right", "pan(0.25)", "Pan right"),
        Binding("left", "cursor(-1)", "Crosshair left", show=False),
        Binding("right", "cursor(1)", "Crosshair right", show=False),
        Binding("0", "reset_view", "Reset view"),
        Binding("L", "toggle_log", "Log y"),
        Binding("s", "smooth(1)", "Smoothing +"),
        Binding("S", "smooth(-1)", "Smoothing -", show=False),
        Binding("escape", "hide_cursor", "Hide crosshair", show=False),
    ]
    VIEW_DEBOUNCE_S: ClassVar[float] = 0.15  # wheel bursts post one ViewChanged, not dozens

    title: reactive[str] = reactive("")
    x_label: reactive[str] = reactive("step")
    # How x ticks read: "step", "wall" (epoch seconds), "relative" (seconds) or "auto" (from
    # x_label: "wall…" -> wall, "time…"/"relative…" -> relative, else step).
    x_kind: reactive[str] = reactive("auto")
    smoothing: reactive[float] = reactive(0.0)
    log_y: reactive[bool] = reactive(False)
    view: reactive[tuple[float, float] | None] = reactive(None)
    cursor_x: reactive[float | None] = reactive(None)

    class ViewChanged(Message):
        """The visible x window changed (debounced). Handler: `on_line_chart_view_changed`."""

        def __init__(self, chart: LineChart, x_min: float, x_max: float) -> None:
            super().__init__()
            self.chart, self.x_min, self.x_max = chart, x_min, x_max

        @property
        def control(self) -> LineChart:
            return self.chart

    class CursorMoved(Message):
        """The crosshair moved (x None: hidden); `values` maps series name -> value at x."""

        def __init__(self, chart: LineChart, x: float | None, values: dict[str, float]) -> None:
            super().__init__()
            self.chart, self.x, self.values = chart, x, values

        @property
        def control(self) -> LineChart:
            return self.chart

    def __init__(self, series: list[ChartSeries] | None = None, *, title: str = "",
                 x_label: str = "step", name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._series: list[SeriesData] = [SeriesData(s) for s in series or []]
        self._frame: list[Strip] | None = None
        self._geometry: Geometry | None = None
        self._drag: tuple[int, tuple[float, float]] | None = None
        self._dragged = False
        self._view_timer: Timer | None = None
        self._bounds: tuple[float, float] | None = None
        self.set_reactive(LineChart.title, title)
        self.set_reactive(LineChart.x_label, x_label)

    # -- data ------------------------------------------------------------------------------
    def set_series(self, series: list[ChartSeries], *, keep_view: bool = False) -> None:
        """Replace every series; `keep_view` keeps the zoom window and crosshair."""
        # A reload that keeps the view may hold only the window's points (reduced data read for
        # it): remember the range seen so far, so zooming out and panning can still leave it.
        self._bounds = self.x_bounds if keep_view else None
        self._series = [SeriesData(s) for s in series]
        if not keep_view:
            self.set_reactive(LineChart.view, None)
            self.set_reactive(LineChart.cursor_x, None)
        self._redraw()

    def append_points(self, name: str, x: np.ndarray, y: np.ndarray) -> bool:
        """Live mode: add points to the series called `name`; O(new points). False if unknown."""
        for s in self._series:
            if s.name == name:
                s.append(x, y)
                self._redraw()
                return True
        return False

    @property
    def series_names(self) -> list[str]:
        return [s.name for s in self._series]

    def values_at(self, x: float) -> dict[str, float]:
        """Every series' raw value at the point nearest to `x` (NaN where it has none)."""
        out: dict[str, float] = {}
        for s in self._series:
            i = nearest_index(s.x, x)
            out[s.name] = math.nan if i is None else float(s.y[i])
        return out

    # -- view ------------------------------------------------------------------------------
    @property
    def x_bounds(self) -> tuple[float, float] | None:
        """The x range zoom and pan move within: the data, widened by earlier kept-view loads."""
        data = data_window(self._series)
        if self._bounds is None or data is None:
            return data or self._bounds
        return min(data[0], self._bounds[0]), max(data[1], self._bounds[1])

    @x_bounds.setter
    def x_bounds(self, value: tuple[float, float] | None) -> None:
        self._bounds = value
        self._redraw()

    def window(self) -> tuple[float, float] | None:
        """The x window on screen: `view`, or `x_bounds` when `view` is None."""
        return self.view or self.x_bounds

    def resolved_x_kind(self) -> str:
        if self.x_kind != "auto":
            return self.x_kind
        label = self.x_label.lower()
        if label.startswith("wall"):
            return "wall"
        return "relative" if label.startswith(("time", "relative")) else "step"

    def zoom(self, factor: float, center: float | None = None) -> None:
        """Narrow the window by `factor` (>1 zooms in) keeping `center` (default: crosshair) put."""
        win, full = self.window(), self.x_bounds
        if win is None or full is None or factor <= 0:
            return
        x0, x1 = win
        if center is None:
            center = self.cursor_x if self.cursor_x is not None and x0 <= self.cursor_x <= x1 \
                else (x0 + x1) / 2
        n0 = center - (center - x0) / factor
        n1 = center + (x1 - center) / factor
        min_width = (full[1] - full[0]) * 1e-7
        if n1 - n0 < min_width:
            return
        self.view = self._clamp(n0, n1, full)

    def pan(self, fraction: float) -> None:
        """Move the window by `fraction` of its width (negative: left), staying on the data."""
        win, full = self.window(), self.x_bounds
        if win is None or full is None or self.view is None:
            return
        shift = (win[1] - win[0]) * fraction
        self.view = self._clamp(win[0] + shift, win[1] + shift, full)

    def reset_view(self) -> None:
        """Show everything again."""
        self.view = None

    @staticmethod
    def _clamp(x0: float, x1: float, full: tuple[float, float]) -> tuple[float, float] | None:
        width = x1 - x0
        if width >= full[1] - full[0]:
            return None
        if x0 < full[0]:
            x0, x1 = full[0], full[0] + width
        if x1 > full[1]:
            x0, x1 = full[1] - width, full[1]
        return (x0, x1)

    def validate_cursor_x(self, value: float | None) -> float | None:
        # On a step axis the crosshair sits on whole steps (the readout says "step 150").
        if value is None or not math.isfinite(value) or self.resolved_x_kind() != "step":
            return value
        return float(round(value))

    def validate_smoothing(self, value: float) -> float:
        return min(max(float(value), 0.0), 0.999)

    def validate_view(self, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is None:
            return None
        x0, x1 = float(value[0]), float(value[1])
        return (x0, x1) if math.isfinite(x0) and math.isfinite(x1) and x1 > x0 else None

    def watch_view(self) -> None:
        self._redraw()
        if self._view_timer is not None:
            self._view_timer.stop()
        if self.VIEW_DEBOUNCE_S <= 0:
            self.call_later(self._post_view)
        else:
            self._view_timer = self.set_timer(self.VIEW_DEBOUNCE_S, self._post_view)

    def _post_view(self) -> None:
        self._view_timer = None
        win = self.window()
        if win is not None:
            self.post_message(self.ViewChanged(self, win[0], win[1]))

    def watch_cursor_x(self, value: float | None) -> None:
        self._redraw()
        self.post_message(self.CursorMoved(self, value, {} if value is None
                                           else self.values_at(value)))

    def _watch_common(self) -> None:
        self._redraw()

    watch_title = watch_x_label = watch_x_kind = watch_smoothing = watch_log_y = _watch_common

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # escape only hides a visible crosshair; otherwise it goes on to the screen ("back").
        if action == "hide_cursor":
            return self.cursor_x is not None
        return True

    # -- keys ------------------------------------------------------------------------------
    def action_zoom(self, factor: float) -> None:
        self.zoom(factor)

    def action_pan(self, fraction: float) -> None:
        self.pan(fraction)

    def action_reset_view(self) -> None:
        self.reset_view()

    def action_toggle_log(self) -> None:
        self.log_y = not self.log_y

    def action_smooth(self, direction: int) -> None:
        steps = SMOOTHING_STEPS
        if direction > 0:
            self.smoothing = next((s for s in steps if s > self.smoothing + 1e-9), steps[-1])
        else:
            self.smoothing = next((s for s in reversed(steps) if s < self.smoothing - 1e-9), 0.0)

    def action_cursor(self, cells: int) -> None:
        """Move the crosshair by whole character columns (placing it mid-window first)."""
        win = self.window()
        if win is None:
            return
        x0, x1 = win
        cols = self._geometry.cols if self._geometry else max(1, self.size.width - 10)
        step = (x1 - x0) / cols
        if self.resolved_x_kind() == "step" and math.ceil(x0) <= math.floor(x1):
            # Whole steps inside the window; zoomed in past a step per column, one step a key.
            x0, x1, step = math.ceil(x0), math.floor(x1), max(step, 1.0)
        if self.cursor_x is None or not x0 <= self.cursor_x <= x1:
            self.cursor_x = (x0 + x1) / 2
            return
        self.cursor_x = min(max(self.cursor_x + cells * step, x0), x1)

    def action_hide_cursor(self) -> None:
        self.cursor_x = None

    # -- mouse -----------------------------------------------------------------------------
    def _x_under(self, event: events.MouseEvent) -> float | None:
        offset = event.get_content_offset(self)
        if offset is None or self._geometry is None:
            return None
        return self._geometry.x_at(offset.x)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.zoom(1.25, self._x_under(event))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.zoom(0.8, self._x_under(event))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        win = self.window()
        if win is not None and self._x_under(event) is not None:
            self._drag, self._dragged = (event.screen_x, win), False
            self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._drag is None or not event.button or self._geometry is None:
            return
        start_x, (x0, x1) = self._drag
        dx = event.screen_x - start_x
        if dx:
            self._dragged = True
            full = self.x_bounds
            shift = -dx * (x1 - x0) / self._geometry.cols
            if full is not None and self.view is not None:
                self.view = self._clamp(x0 + shift, x1 + shift, full)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._drag is None:
            return
        self._drag = None
        self.release_mouse()
        if not self._dragged:
            x = self._x_under(event)
            if x is not None:
                self.cursor_x = x

    # -- drawing ---------------------------------------------------------------------------
    def _redraw(self) -> None:
        self._frame = None
        self.refresh()

    def on_resize(self) -> None:
        self._redraw()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._frame = None  # theme, focus and CSS changes restyle the cached frame

    def _styles(self) -> FrameStyles:
        base = self.rich_style
        background = self.background_colors[1]

        # Every style is layered on the widget's own, so cells keep the widget's background.
        def series(i: int) -> Style:
            return base + Style(color=PALETTE[i % len(PALETTE)])

        def dim(i: int) -> Style:
            faded = background.blend(Color.parse(PALETTE[i % len(PALETTE)]), 0.4)
            return base + Style(color=faded.rich_color)

        comp = self.get_component_rich_style
        return FrameStyles(
            base=base, axis=base + comp("line-chart--axis"),
            title=base + comp("line-chart--title"), note=base + comp("line-chart--note"),
            hint=base + comp("line-chart--hint"),
            cursor=Style(bgcolor=comp("line-chart--cursor").bgcolor), series=series, dim=dim,
        )

    def _notes(self) -> list[str]:
        notes = []
        if self.log_y:
            hidden = sum(s.hidden_on_log() for s in self._series)
            if hidden:
                notes.append(f"{hidden} values ≤ 0 not shown")
        infs = sum(s.inf_count for s in self._series)
        if infs:
            notes.append(f"{infs} ±inf not shown")
        return notes

    def render_frame(self) -> list[Strip]:
        """Build (or return the cached) full frame: one Strip per line of the widget."""
        if self._frame is None:
            spec = FrameSpec(
                width=self.size.width, height=self.size.height, series=self._series,
                window=self.window(), log_y=self.log_y, smoothing=self.smoothing, title=self.title,
                x_label=self.x_label, x_kind=self.resolved_x_kind(), cursor_x=self.cursor_x,
                notes=self._notes(), left_hint=self._geometry.left if self._geometry else None,
            )
            rows, self._geometry = build_frame(spec, self._styles())
            self._frame = [Strip([Segment(t, s) for t, s in row], spec.width) for row in rows]
        return self._frame

    def render_line(self, y: int) -> Strip:
        frame = self.render_frame()
        if 0 <= y < len(frame):
            return frame[y]
        return Strip.blank(self.size.width, self.rich_style)
