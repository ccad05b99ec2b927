"""Keyboard actions and mouse handling of the line chart (a mixin, kept apart for size)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from textual import events

if TYPE_CHECKING:
    from .chart import LineChart

    _Base = LineChart
else:
    _Base = object

SMOOTHING_STEPS = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99, 0.999)


class ChartInput(_Base):
    """Zoom, pan, crosshair, log and smoothing from keys; wheel zoom, click and drag."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # escape only hides a visible crosshair; otherwise it goes on to the screen ("back").
        if action == "hide_cursor":
            return self.cursor_x is not None
        return True

    # -- actions ---------------------------------------------------------------------------
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
