"""Provides the histogram view: one key's histograms over steps as a shaded heat strip."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import OptionList, Static

from ...format import clean, number
from ...records import HistogramPoint
from .keyed_view import KeyedView

SHADES = np.array(list(" ·░▒▓█"))


def heat_strip(points: list[HistogramPoint], width: int, height: int) -> Text:
    """Rows of shade glyphs, one per shown step (newest last), over a value range shared by all.

    Each histogram is re-binned onto common edges by interpolating its cumulative counts, so
    histograms logged with different edges line up.
    """
    if not points:
        return Text("no histograms for this key", style="dim")
    if len(points) > height:  # evenly spaced steps, always keeping the last one
        idx = np.unique(np.linspace(0, len(points) - 1, height).round().astype(int))
        points = [points[i] for i in idx]
    lo = min(float(p.histogram.edges[0]) for p in points)
    hi = max(float(p.histogram.edges[-1]) for p in points)
    if not np.isfinite([lo, hi]).all() or hi <= lo:
        lo, hi = lo - 0.5, lo + 0.5
    label_w = max(len(str(p.step)) for p in points) + 1
    cols = max(8, width - label_w - 1)
    grid = np.linspace(lo, hi, cols + 1)
    rows = np.zeros((len(points), cols))
    for i, point in enumerate(points):
        edges = point.histogram.edges
        cum = np.concatenate([[0.0], np.cumsum(point.histogram.counts)])
        if len(cum) != len(edges):
            continue
        rows[i] = np.diff(np.interp(grid, edges, cum))
    peak = rows.max(axis=1, keepdims=True)
    level = np.where(peak > 0, np.ceil(rows / np.where(peak > 0, peak, 1) * 5), 0)
    out = Text()
    for point, row in zip(points, level.astype(int)):
        out.append(f"{point.step:>{label_w - 1}} ", style="dim")
        out.append("".join(SHADES[row]) + "\n", style="bold")
    axis = f"{number(lo)}".ljust(cols // 2) + f"{number(hi)}".rjust(cols - cols // 2)
    out.append(" " * label_w + axis, style="dim")
    return out


class HistogramView(KeyedView):
    """Histogram keys on the left, the chosen key's heat strip on the right."""

    LIST_ID, CONTENT_ID, EMPTY = "histogram-keys", "histogram-strip", "this run logged no histograms"

    class KeyChosen(KeyedView.KeyChosen):
        """The user picked a histogram key."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.points: list[HistogramPoint] = []

    def compose(self) -> ComposeResult:
        yield OptionList(id="histogram-keys", classes="side-list")
        yield Static(id="histogram-strip", expand=True)

    def show(self, key: str, points: list[HistogramPoint]) -> None:
        """Draw ``key``'s histograms."""
        self.key, self.points = key, points
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        strip = self.query_one("#histogram-strip", Static)
        if not self.key:
            return
        width, height = strip.size.width or 60, strip.size.height or 20
        title = Text(f"{clean(self.key)}  ({len(self.points)} steps)\n", style="bold")
        strip.update(title + heat_strip(self.points, width, max(2, height - 2)))
