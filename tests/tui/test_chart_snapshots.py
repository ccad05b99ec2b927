"""Snapshots of the line chart on fixed, seeded data (no timers, fixed terminal sizes)."""

from __future__ import annotations

import numpy as np
from textual.app import App, ComposeResult
from textual.widgets import Footer

from tracker.tui.widgets.chart import ChartSeries, LineChart


def training_curves(n: int = 20_000, runs: int = 3) -> list[ChartSeries]:
    rng = np.random.default_rng(1234)
    x = np.arange(n, dtype=np.float64)
    out = []
    for i in range(runs):
        y = 2.5 * np.exp(-x / (3_000 * (i + 1))) + 0.15 + rng.normal(0.0, 0.04, n)
        out.append(ChartSeries(f"run-{i}", x, y, color=i))
    out[1].y[12_345] = 4.0  # a one-step loss spike that must stay visible
    return out


class SnapApp(App[None]):
    def __init__(self, theme: str = "textual-dark", **chart: object) -> None:
        super().__init__()
        self.chart_settings = chart
        self.theme = theme

    def compose(self) -> ComposeResult:
        chart = LineChart(training_curves(), title="train/loss")
        chart.VIEW_DEBOUNCE_S = 0.0  # no timer left pending when the screenshot is taken
        for key, value in self.chart_settings.items():
            setattr(chart, key, value)
        yield chart
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(LineChart).focus()


def test_chart_three_runs_with_a_spike(snap_compare) -> None:
    assert snap_compare(SnapApp(), terminal_size=(100, 30))


def test_chart_log_smoothed_with_crosshair(snap_compare) -> None:
    assert snap_compare(SnapApp(), press=["L", "s", "s", "s", "right", "right"],
                        terminal_size=(100, 30))


def test_chart_zoomed_light_theme_80x24(snap_compare) -> None:
    assert snap_compare(SnapApp(theme="textual-light"), press=["plus", "plus", "right_square_bracket"],
                        terminal_size=(80, 24))


def test_chart_empty_hint(snap_compare) -> None:
    class Empty(App[None]):
        def compose(self) -> ComposeResult:
            yield LineChart(title="nothing yet")

    assert snap_compare(Empty(), terminal_size=(60, 12))
