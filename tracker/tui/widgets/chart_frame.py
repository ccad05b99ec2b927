"""Lays out one line-chart frame (header, legend, braille plot, axes) as rows of styled text."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from rich.cells import cell_len
from rich.style import Style

from . import chart_axes as axes
from .chart_data import Layer, SeriesData
from .chart_raster import braille_bits, braille_row, dot_mask, nearest_index, reduce_columns

Row = list[tuple[str, Style]]
CURSOR_FLAG = 1 << 16  # added to a cell's style id when the crosshair column passes through it


@dataclass
class FrameStyles:
    """Rich styles the widget resolves from its component classes and palette."""

    base: Style
    axis: Style
    title: Style
    note: Style
    hint: Style
    cursor: Style
    series: Callable[[int], Style]  # palette index -> bright curve style
    dim: Callable[[int], Style]  # palette index -> the raw curve under a smoothed one


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


@dataclass
class FrameSpec:
    width: int
    height: int
    series: list[SeriesData]
    window: tuple[float, float] | None
    log_y: bool = False
    smoothing: float = 0.0
    title: str = ""
    x_label: str = "step"
    x_kind: str = "step"
    cursor_x: float | None = None
    notes: list[str] = field(default_factory=list)
    left_hint: int | None = None  # the previous frame's label margin, to reduce only once


def literal(text: str) -> str:
    """Run-provided text made safe to show: control characters become visible symbols."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch < " " or ch == "\x7f":
            out.append(chr(0x2400 + ord(ch)) if ch < " " else "\u2421")
        elif cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


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


def x_formatter(kind: str, span: float) -> Callable[[float, float], str]:
    if kind == "wall":
        return lambda v, step: axes.format_wall(v, span)
    if kind == "relative":
        return axes.format_duration
    return axes.format_number


def _fit(row: Row, width: int, style: Style) -> Row:
    """Crop or pad a row of segments to exactly `width` cells."""
    out: Row = []
    used = 0
    for text, st in row:
        w = cell_len(text)
        if used + w > width:
            text = text[: max(0, width - used)]
            while cell_len(text) > width - used:
                text = text[:-1]
            w = cell_len(text)
        if text:
            out.append((text, st))
            used += w
        if used >= width:
            break
    if used < width:
        out.append((" " * (width - used), style))
    return out


def _values_at(spec: FrameSpec, at: float | None) -> list[float]:
    vals = []
    for s in spec.series:
        ys = s.smoothed(spec.smoothing) if spec.smoothing > 0 else s.y
        if at is None:  # the legend shows the latest finite value
            tail = ys[-64:]
            tail = tail[np.isfinite(tail)]
            vals.append(float(tail[-1]) if len(tail) else math.nan)
        else:
            i = nearest_index(s.x, at)
            vals.append(math.nan if i is None else float(ys[i]))
    return vals


def _legend(spec: FrameSpec, st: FrameStyles) -> Row:
    row: Row = []
    for s, v in zip(spec.series, _values_at(spec, spec.cursor_x)):
        row.append(("■ ", st.series(s.color)))
        row.append((literal(s.name) + " ", st.base))
        row.append((axes.format_value(v) + "  ", st.note))
    return row


def _header(spec: FrameSpec, st: FrameStyles, fmt: Callable[[float, float], str]) -> Row:
    row: Row = [(literal(spec.title), st.title)] if spec.title else []
    if spec.cursor_x is not None:
        row.append((f"  {literal(spec.x_label)} {fmt(spec.cursor_x, 0.0)}", st.note))
    flags = (["log y"] if spec.log_y else []) + (
        [f"smoothing {spec.smoothing:g}"] if spec.smoothing > 0 else []) + spec.notes
    if flags:
        text = "  " + " · ".join(flags)
        used = sum(cell_len(t) for t, _ in row)
        pad = max(0, spec.width - used - cell_len(text))
        row.append((" " * pad + text, st.note))
    return row


def _centered(text: str, width: int, style: Style, base: Style) -> Row:
    pad = max(0, (width - cell_len(text)) // 2)
    return [(" " * pad, base), (text, style)]


def _visible_range(layers: list[tuple[Layer, Style]], x0: float, x1: float) -> tuple[float, float]:
    """The y range of the points inside [x0, x1], without reducing them to columns."""
    lows, highs = [], []
    for la, _ in layers:
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
    pad = span * 0.05 if span > 0 else (0.05 if log_y else max(abs(vmin) * 0.05, 1e-9))
    vmin, vmax = vmin - pad, vmax + pad
    max_ticks = max(2, rows // 2)
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
        top_rows = [_header(spec, st, fmt), _legend(spec, st)]
    elif h >= 4:
        top_rows = [_header(spec, st, fmt)[:1] + [("  ", st.base)] + _legend(spec, st)]
    axis_rows = 2 if h >= 4 else 0
    rows = h - len(top_rows) - axis_rows
    if window is None:
        hint = "no data to plot" if not spec.series else "no points yet"
        body = [blank] * (h - len(top_rows))
        mid = len(body) // 2
        body[mid] = _centered(hint, w, st.hint, st.base)
        return [_fit(r, w, st.base) for r in top_rows + body], None
    x0, x1 = window
    # Layers, bottom first: raw curves (dimmed when smoothed), then the smoothed ones on top.
    layers = [(s.layer(spec.log_y), st.dim(s.color) if spec.smoothing > 0 else st.series(s.color))
              for s in spec.series]
    if spec.smoothing > 0:
        layers += [(s.layer(spec.log_y, spec.smoothing), st.series(s.color)) for s in spec.series]
    # The y labels' width sets the plot's width, which sets the columns the data is reduced to:
    # start from last frame's width (or a cheap estimate), reduce again only if it changed.
    left = spec.left_hint or _label_width(*_visible_range(layers, x0, x1), rows, spec.log_y)[0]
    cols = max(1, w - left - 2)
    spans = [reduce_columns(la.x, la.lo, la.hi, la.mid, la.bad, x0, x1, 2 * cols)
             for la, _ in layers]
    vmin = min((np.nanmin(lo) for lo, _ in spans if not np.all(np.isnan(lo))), default=math.nan)
    vmax = max((np.nanmax(hi) for _, hi in spans if not np.all(np.isnan(hi))), default=math.nan)
    if math.isnan(vmin):
        body = [blank] * (h - len(top_rows))
        body[len(body) // 2] = _centered("no finite values in view", w, st.hint, st.base)
        return [_fit(r, w, st.base) for r in top_rows + body], Geometry(left, len(top_rows), cols,
                                                                       rows, x0, x1)
    new_left, vmin, vmax, yt, ylabels = _label_width(vmin, vmax, rows, spec.log_y)
    if new_left != left:
        left = new_left
        cols = max(1, w - left - 2)
        spans = [reduce_columns(la.x, la.lo, la.hi, la.mid, la.bad, x0, x1, 2 * cols)
                 for la, _ in layers]
    sid = np.zeros((rows, cols), dtype=np.int64)
    bits = np.zeros((rows, cols), dtype=np.uint8)
    styles: dict[int, Style] = {}
    for k, ((lo, hi), (_, style)) in enumerate(zip(spans, layers), start=1):
        b = braille_bits(dot_mask(lo, hi, vmin, vmax, 4 * rows))
        bits |= b
        sid[b > 0] = k
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
    body: list[Row] = []
    for r in range(rows):
        label = ytick_rows.get(r)
        row: Row = [((label or "").rjust(left - 1)[: left - 1], st.axis),
                    ("┤" if label else "│", st.axis)]
        text = braille_row(bits[r])
        ids = sid[r]
        cuts = np.flatnonzero(np.diff(ids)) + 1
        bounds = [0, *cuts.tolist(), cols]
        for a, b in zip(bounds[:-1], bounds[1:]):
            k = int(ids[a])
            style = styles.get(k & (CURSOR_FLAG - 1), st.base)
            if k & CURSOR_FLAG:
                style = style + st.cursor
            row.append((text[a:b], style))
        body.append(row)
    body += _x_axis(left, cols, w, x0, x1, spec, fmt, st, ccol)[:axis_rows]
    geom = Geometry(left, len(top_rows), cols, rows, x0, x1)
    return [_fit(r, w, st.base) for r in top_rows + body], geom


def _x_axis(left: int, cols: int, width: int, x0: float, x1: float, spec: FrameSpec,
            fmt: Callable[[float, float], str], st: FrameStyles, ccol: int | None) -> list[Row]:
    """The axis line with tick marks and the row of x labels under it."""
    max_ticks = max(2, cols // 10)
    if spec.x_kind in ("wall", "relative"):
        ticks, step = axes.time_ticks(x0, x1, max_ticks)
    else:
        ticks, step = axes.linear_ticks(x0, x1, max_ticks)
    line = ["─"] * cols
    labels = [" "] * (cols + left + 2)
    last_end = -1
    for t in ticks:
        c = int((t - x0) / (x1 - x0) * cols) if x1 > x0 else 0
        if not 0 <= c < cols:
            continue
        line[c] = "┬"
        text = fmt(float(t), step)
        start = left + c - len(text) // 2
        start = max(0, min(start, len(labels) - len(text)))
        if start <= last_end + 1:
            continue
        labels[start : start + len(text)] = list(text)
        last_end = start + len(text) - 1
    if ccol is not None:
        line[ccol] = "┼" if line[ccol] == "┬" else "┴"
    xl = literal(spec.x_label)
    label_text = "".join(labels).rstrip()
    if xl and cell_len(label_text) + 2 + cell_len(xl) <= width:
        label_text = label_text.ljust(width - cell_len(xl)) + xl
    return [[(" " * (left - 1) + "└" + "".join(line), st.axis)], [(label_text, st.axis)]]
