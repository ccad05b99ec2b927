"""Axis ticks and labels for the line chart: round numbers, log decades, wall and relative time."""

from __future__ import annotations

import math
import time

import numpy as np

_SI = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
_TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
               43200, 86400, 172800, 604800]


def nice_step(span: float, max_ticks: int) -> float:
    """The smallest 1/2/5 x 10^k step that puts at most `max_ticks` ticks on `span`."""
    if not span > 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(1, max_ticks)
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * mag >= raw:
            return m * mag
    return 10.0 * mag


def linear_ticks(lo: float, hi: float, max_ticks: int) -> tuple[np.ndarray, float]:
    """Round tick positions inside [lo, hi] and their step."""
    step = nice_step(hi - lo, max_ticks)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    if last - first > 10_000:  # a degenerate span; never build a huge array
        return np.array([lo, hi]), hi - lo
    return np.arange(first, last + 1, dtype=np.float64) * step, step


def log_ticks(lo: float, hi: float, max_ticks: int) -> np.ndarray:
    """Tick positions in log10 space: decades, or 1/2/5 within a decade, or round linear values."""
    if hi - lo >= 1.0:
        step = max(1, math.ceil((hi - lo) / max(1, max_ticks)))
        first, last = math.floor(lo), math.ceil(hi)
        decades = np.arange(first, last + 1, dtype=np.float64)
        ticks = decades[(decades % step) == 0]
        inside = ticks[(ticks >= lo - 1e-9) & (ticks <= hi + 1e-9)]
        if step == 1 and len(inside) * 3 <= max_ticks:  # room to spare: add 2x and 5x
            ticks = np.concatenate([ticks, ticks + math.log10(2), ticks + math.log10(5)])
        ticks = np.sort(ticks[(ticks >= lo - 1e-9) & (ticks <= hi + 1e-9)])
        return ticks
    values, _ = linear_ticks(10.0**lo, 10.0**hi, max_ticks)
    values = values[values > 0]
    return np.log10(values)


def format_number(v: float, step: float = 0.0) -> str:
    """A short label: SI suffixes for large values, enough decimals to tell ticks `step` apart."""
    if not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    a = abs(v)
    if (a >= 1e4 or (a >= 1e3 and step >= 100)) and a < 1e15:
        for scale, suffix in _SI:
            if a >= scale:
                digits = _decimals(step / scale) if step else 2
                text = f"{v / scale:.{digits}f}"
                return (text.rstrip("0").rstrip(".") if "." in text else text) + suffix
    if a != 0 and (a < 1e-3 or a >= 1e15):
        return f"{v:.1e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")
    digits = _decimals(step) if step else (4 if a < 1 else 3)
    text = f"{v:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _decimals(step: float) -> int:
    """Decimals needed to print multiples of `step` distinctly (0 for integers)."""
    if not step > 0 or not math.isfinite(step):
        return 2
    return max(0, min(8, -math.floor(math.log10(step) + 1e-9) + (0 if _is_round(step) else 1)))


def _is_round(step: float) -> bool:
    mant = step / 10.0 ** math.floor(math.log10(step))
    return abs(mant - round(mant)) < 1e-6


def format_value(v: float) -> str:
    """A value for the crosshair readout and legend: 4 significant digits, SI above 10k."""
    if not math.isfinite(v):
        return format_number(v)
    if abs(v) >= 1e4 and abs(v) < 1e15:
        return format_number(v)
    return f"{v:.4g}"


def time_ticks(lo: float, hi: float, max_ticks: int) -> tuple[np.ndarray, float]:
    """Ticks for seconds (relative or epoch) on round second/minute/hour/day steps."""
    span = hi - lo
    raw = span / max(1, max_ticks)
    step = next((s for s in _TIME_STEPS if s >= raw), None)
    if step is None:
        return linear_ticks(lo, hi, max_ticks)
    offset = 0.0
    if step >= 3600:  # align hour/day ticks to the local clock, not to UTC midnight
        offset = float(time.localtime(lo).tm_gmtoff) if lo > 1e8 else 0.0
    first = math.ceil((lo + offset) / step - 1e-9)
    last = math.floor((hi + offset) / step + 1e-9)
    return np.arange(first, last + 1, dtype=np.float64) * step - offset, float(step)


def format_duration(seconds: float, step: float = 0.0) -> str:
    """Relative time: 45s, 2m30s, 1h05m, 2d3h."""
    if not math.isfinite(seconds):
        return format_number(seconds)
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 60:
        return f"{sign}{format_number(s, step if step and step < 1 else 1.0)}s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{sign}{m}m" + (f"{sec:02d}s" if sec else "")
    h, m = divmod(m, 60)
    if h < 24:
        return f"{sign}{h}h" + (f"{m:02d}m" if m else "")
    d, h = divmod(h, 24)
    return f"{sign}{d}d" + (f"{h}h" if h else "")


def format_wall(t: float, span: float) -> str:
    """Wall-clock time in the local zone, with the date once the window spans days."""
    if not math.isfinite(t):
        return format_number(t)
    lt = time.localtime(t)
    if span >= 2 * 86400:
        return time.strftime("%m-%d %H:%M", lt)
    if span >= 600:
        return time.strftime("%H:%M", lt)
    return time.strftime("%H:%M:%S", lt)
