"""The line chart's frame description and its text rows: header, legend and the x axis."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from rich.cells import cell_len
from rich.style import Style

from . import axes
from .data import SeriesData
from .raster import nearest_index

Row = list[tuple[str, Style]]


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

def x_formatter(kind: str, span: float) -> Callable[[float, float], str]:
    if kind == "wall":
        return lambda v, step: axes.format_wall(v, span)
    if kind == "relative":
        return axes.format_duration
    return axes.format_number


def fit(row: Row, width: int, style: Style) -> Row:
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


def values_at(spec: FrameSpec, at: float | None) -> list[float]:
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


def legend(spec: FrameSpec, st: FrameStyles, width: int = 0, max_rows: int = 1) -> list[Row]:
    """One entry per series (swatch, literal name, value at the crosshair or the latest value),
    wrapped to `max_rows` rows of `width` cells; entries that do not fit are counted."""
    entries: list[Row] = []
    for s, v in zip(spec.series, values_at(spec, spec.cursor_x)):
        entries.append([("■ ", st.series(s.color)), (literal(s.name) + " ", st.base),
                        (axes.format_value(v) + "  ", st.note)])
    if width <= 0:
        return [[seg for e in entries for seg in e]]

    def cells(entry: Row) -> int:
        return sum(cell_len(t) for t, _ in entry)

    rows: list[list[Row]] = [[]]
    used = 0
    for i, entry in enumerate(entries):
        if rows[-1] and used + cells(entry) > width:
            if len(rows) == max_rows:  # out of rows: end the last one with a count of the rest
                hidden = len(entries) - i
                while rows[-1] and used + len(f"+{hidden} more") > width:
                    used -= cells(rows[-1].pop())
                    hidden += 1
                rows[-1].append([(f"+{hidden} more", st.note)])
                break
            rows.append([])
            used = 0
        rows[-1].append(entry)
        used += cells(entry)
    return [[seg for entry in row for seg in entry] for row in rows]


def header(spec: FrameSpec, st: FrameStyles, fmt: Callable[[float, float], str]) -> Row:
    row: Row = [(literal(spec.title), st.title)] if spec.title else []
    if spec.cursor_x is not None:
        # Steps are whole numbers: the crosshair snaps to them and reads them in full.
        at = str(round(spec.cursor_x)) if spec.x_kind == "step" else fmt(spec.cursor_x, 0.0)
        row.append((f"  {literal(spec.x_label)} {at}", st.note))
    flags = (["log y"] if spec.log_y else []) + (
        [f"smoothing {spec.smoothing:g}"] if spec.smoothing > 0 else []) + spec.notes
    if flags:
        text = "  " + " · ".join(flags)
        used = sum(cell_len(t) for t, _ in row)
        pad = max(0, spec.width - used - cell_len(text))
        row.append((" " * pad + text, st.note))
    return row


def centered(text: str, width: int, style: Style, base: Style) -> Row:
    pad = max(0, (width - cell_len(text)) // 2)
    return [(" " * pad, base), (text, style)]

def x_axis(left: int, cols: int, width: int, x0: float, x1: float, spec: FrameSpec,
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
