"""Lays out one line-chart frame (header, legend, braille plot, axes) as rows of styled text."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rich.cells import cell_len
from rich.style import Style

from . import axes
from .data import Layer, SeriesData
from .raster import braille_bits, braille_row, dot_mask
from .text import (
    FrameSpec,
    FrameStyles,
    Row,
    centered,
    fit,
    header,
    legend,
    x_axis,
    x_formatter,
)

__all__ = ["FrameSpec", "FrameStyles", "Geometry", "build_frame", "data_window"]
CURSOR_FLAG = 1 << 16  # added to a cell's style id when the crosshair column passes through it


@dataclass
class Geometry:
    """Where the plot landed, for mapping mouse cells back to x."""

    left: int
    top: int
    cols: int
    rows: int
    x0: float
    x1: float

    def x_at(self, cell_x: int) -> float | None:
        """The x at the centre of widget column `cell_x` (None outside the plot)."""
        col = cell_x - self.left
        if not 0 <= col < self.cols:
            return None
        return self.x0 + (col + 0.5) / self.cols * (self.x1 - self.x0)

def data_window(series: list[SeriesData]) -> tuple[float, float] | None:
    """The x range covering every series; a single x gets a unit-wide window around it."""
    ext = [e for e in (s.extent() for s in series) if e is not None]
    if not ext:
        return None
    lo, hi = min(e[0] for e in ext), max(e[1] for e in ext)
    if hi <= lo:
        pad = max(0.5, abs(lo) * 1e-9)
        return lo - pad, hi + pad
    return lo, hi

def _visible_range(layers: list[Layer], x0: float, x1: float) -> tuple[float, float]:
    """The y range of the points inside [x0, x1], without reducing them to columns."""
    lows, highs = [], []
    for la in layers:
        i0, i1 = np.searchsorted(la.x, [x0, x1], side="left")
        i1 = max(i1, min(i0 + 1, len(la.x)))
        if i1 > i0:
            lows.append(np.fmin.reduce(la.lo[i0:i1]))
            highs.append(np.fmax.reduce(la.hi[i0:i1]))
    lo, hi = np.fmin.reduce(lows, initial=np.nan), np.fmax.reduce(highs, initial=np.nan)
    return float(lo), float(hi)


def _label_width(vmin: float, vmax: float, rows: int, log_y: bool
                 ) -> tuple[int, float, float, np.ndarray, list[str]]:
    """Pad the y range and label it: (margin width, vmin, vmax, tick positions, labels)."""
    if math.isnan(vmin) or math.isnan(vmax):
        return 8, vmin, vmax, np.zeros(0), []
    span = vmax - vmin
    flat = span <= 1e-9 * max(1.0, abs(vmin), abs(vmax))
    if not flat:
        pad = span * 0.05
    elif log_y:
        pad = 0.05  # a twentieth of a decade each way
    else:
        # A flat series (all zeros, a constant lr) is labelled with its value, in the middle of
        # [0, 2 x value] ([-1, 1] for 0), not with 1e-9-wide ticks of float noise.
        mid = (vmin + vmax) / 2
        half = abs(mid) if mid != 0 else 1.0
        ticks = np.array([mid - half, mid, mid + half])
        labels = [axes.format_number(t, half) for t in ticks]
        width = min(max(cell_len(s) for s in labels), 10) + 1
        return width, mid - 1.05 * half, mid + 1.05 * half, ticks, labels
    vmin, vmax = vmin - pad, vmax + pad
    max_ticks = max(2, rows // 3)  # a label every 3+ rows keeps their spacing even
    if log_y:
        ticks = axes.log_ticks(vmin, vmax, max_ticks)
        labels = [axes.format_number(10.0**t) for t in ticks]
    else:
        ticks, step = axes.linear_ticks(vmin, vmax, max_ticks)
        labels = [axes.format_number(t, step) for t in ticks]
    width = min(max((cell_len(s) for s in labels), default=1), 10) + 1
    return width, vmin, vmax, ticks, labels


def build_frame(spec: FrameSpec, st: FrameStyles) -> tuple[list[Row], Geometry | None]:
    """Every row of the chart, each exactly `spec.width` cells, and the plot geometry."""
    w, h = spec.width, spec.height
    blank: Row = [(" " * max(0, w), st.base)]
    if w <= 0 or h <= 0:
        return [], None
    window = spec.window or data_window(spec.series)
    if not any(len(s) for s in spec.series):
        window = None
    fmt = x_formatter(spec.x_kind, (window[1] - window[0]) if window else 0.0)
    top_rows: list[Row] = []
    if h >= 8:
        top_rows = [header(spec, st, fmt), *legend(spec, st, w, 1 + (h >= 16) + (h >= 30))]
    elif h >= 4:
        top_rows = [header(spec, st, fmt)[:1] + [("  ", st.base)] + legend(spec, st)[0]]
    axis_rows = 2 if h >= 4 else 0
    rows = h - len(top_rows) - axis_rows
    if window is None:
        hint = "no data to plot" if not spec.series else "no points yet"
        body: list[Row] = [blank] * (h - len(top_rows))
        mid = len(body) // 2
        body[mid] = centered(hint, w, st.hint, st.base)
        return [fit(r, w, st.base) for r in top_rows + body], None
    x0, x1 = window
    # Layers, bottom first: raw curves (dimmed when smoothed), then the smoothed ones on top.
    layers = [(s, 0.0, st.dim(s.color) if spec.smoothing > 0 else st.series(s.color))
              for s in spec.series]
    if spec.smoothing > 0:
        layers += [(s, spec.smoothing, st.series(s.color)) for s in spec.series]

    def reduce_all(cols: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return [s.spans(spec.log_y, sm, x0, x1, 2 * cols) for s, sm, _ in layers]

    # The y labels' width sets the plot's width, which sets the columns the data is reduced to:
    # start from last frame's width (or a cheap estimate), reduce again only if it changed.
    left = spec.left_hint or _label_width(
        *_visible_range([s.layer(spec.log_y, sm) for s, sm, _ in layers], x0, x1), rows,
        spec.log_y)[0]
    cols = max(1, w - left - 2)
    spans = reduce_all(cols)
    vmin = min((np.nanmin(lo) for lo, _ in spans if not np.all(np.isnan(lo))), default=math.nan)
    vmax = max((np.nanmax(hi) for _, hi in spans if not np.all(np.isnan(hi))), default=math.nan)
    if math.isnan(vmin):
        body = [blank] * (h - len(top_rows))
        body[len(body) // 2] = centered("no finite values in view", w, st.hint, st.base)
        return [fit(r, w, st.base) for r in top_rows + body], Geometry(left, len(top_rows), cols,
                                                                       rows, x0, x1)
    new_left, vmin, vmax, yt, ylabels = _label_width(vmin, vmax, rows, spec.log_y)
    if new_left != left:
        left = new_left
        cols = max(1, w - left - 2)
        spans = reduce_all(cols)
    sid = np.zeros((rows, cols), dtype=np.int64)
    bits = np.zeros((rows, cols), dtype=np.uint8)
    styles: dict[int, Style] = {}
    for k, ((lo, hi), (_, _, style)) in enumerate(zip(spans, layers), start=1):
        layer_bits = braille_bits(dot_mask(lo, hi, vmin, vmax, 4 * rows))
        bits |= layer_bits
        sid[layer_bits > 0] = k
        styles[k] = style
    ccol = None
    if spec.cursor_x is not None and x0 <= spec.cursor_x <= x1:
        ccol = min(cols - 1, int((spec.cursor_x - x0) / (x1 - x0) * cols))
        sid[:, ccol] += CURSOR_FLAG
    ytick_rows: dict[int, str] = {}
    for t, label in zip(yt, ylabels):
        r = int((vmax - t) / (vmax - vmin) * rows)
        if 0 <= r < rows and r not in ytick_rows:
            ytick_rows[r] = label
    body = []
    for r in range(rows):
        tick = ytick_rows.get(r)
        row: Row = [((tick or "").rjust(left - 1)[: left - 1], st.axis),
                    ("┤" if tick else "│", st.axis)]
        text = braille_row(bits[r])
        ids = sid[r]
        cuts = np.flatnonzero(np.diff(ids)) + 1
        bounds = [0, *cuts.tolist(), cols]
        for a, b in zip(bounds[:-1], bounds[1:]):
            layer = int(ids[a])
            style = styles.get(layer & (CURSOR_FLAG - 1), st.base)
            if layer & CURSOR_FLAG:
                style = style + st.cursor
            row.append((text[a:b], style))
        body.append(row)
    body += x_axis(left, cols, w, x0, x1, spec, fmt, st, ccol)[:axis_rows]
    geom = Geometry(left, len(top_rows), cols, rows, x0, x1)
    return [fit(r, w, st.base) for r in top_rows + body], geom

