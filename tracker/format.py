"""How values from runs read on screen, for the CLI and the app alike: literal names, status
marks, numbers, durations, times and sparklines.

Plain strings and style names only: nothing here imports Textual, and Rich and numpy load only
inside the two functions that need them, so the CLI can import this at start-up for free.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from rich.text import Text

# C0 controls (ESC, BEL, CR...), DEL and C1 controls: a terminal would act on them, so they never
# reach the screen. Newlines and tabs are kept only where a widget shows several lines.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SPARK_GLYPHS = "▁▂▃▄▅▆▇█"
UNKNOWN = "?"  # a time or duration that cannot be shown (a damaged row's far-off timestamp)

# A run's status as a mark and a Rich style; a damaged row is marked whatever its status.
STATUS_MARK = {"running": "●", "finished": "✓", "failed": "✗", "crashed": "✗", "killed": "■"}
STATUS_STYLE = {"running": "bold green", "finished": "", "failed": "red", "crashed": "bold red",
                "killed": "yellow"}
DAMAGED_MARK = "!"
DAMAGED_STYLE = "red"


def status_text(status: str, damaged: str | None = None) -> str:
    """A run's status in words, '(damaged)' added when its stored row is damaged."""
    return f"{status} (damaged)" if damaged else status


def status_mark(status: str, damaged: str | None = None) -> str:
    """One glyph for a run's status ('!' for a damaged row, '?' for a status we do not know)."""
    return DAMAGED_MARK if damaged else STATUS_MARK.get(status, "?")


def status_style(status: str, damaged: str | None = None) -> str:
    """The Rich style a run's status is shown in."""
    return DAMAGED_STYLE if damaged else STATUS_STYLE.get(status, "")


def clean(value: Any, *, multiline: bool = False) -> str:
    """``value`` as text with every terminal control character replaced by a visible mark."""
    text = "" if value is None else str(value)
    if text.isprintable():  # the common case, checked in C: nothing to replace
        return text
    if multiline:
        return _CONTROL.sub("\ufffd", text)
    return _CONTROL_LINE.sub(lambda m: "⏎" if m.group() == "\n" else "\ufffd", text)


def literal(value: Any, style: str = "", *, multiline: bool = False) -> Text:
    """A Rich Text that shows ``value`` literally: markup and escapes are never interpreted."""
    from rich.text import Text

    return Text(clean(value, multiline=multiline), style=style)


def number(value: float | None) -> str:
    """A compact number: 4 significant digits, nan/inf spelled out, '' for missing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


def duration(seconds: float) -> str:
    """Seconds as '42s', '3m07s' or '5h02m' ('?' when not finite)."""
    if not math.isfinite(seconds):
        return UNKNOWN
    seconds = int(max(0.0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def when(ts: float, now: float | None = None) -> str:
    """A start time, short: 'HH:MM:SS' today, 'Mon DD HH:MM' this year, else 'YYYY-MM-DD'."""
    now = time.time() if now is None else now
    try:
        then, today = time.localtime(ts), time.localtime(now)
    except (OverflowError, OSError, ValueError):  # a damaged time far outside the calendar
        return UNKNOWN
    if then[:3] == today[:3]:
        return time.strftime("%H:%M:%S", then)
    if then[0] == today[0]:
        return time.strftime("%b %d %H:%M", then)
    return time.strftime("%Y-%m-%d", then)


def timestamp(ts: float) -> str:
    """A time in full, 'YYYY-MM-DD HH:MM' local time (listings that outlive the day they print)."""
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))
    except (OverflowError, OSError, ValueError):  # a damaged time far outside the calendar
        return UNKNOWN


def count(n: float) -> str:
    """A big count with a k/M/G suffix (parameter counts, flops)."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return str(int(n))


def nanos(ns: float | None) -> str:
    """A duration in nanoseconds as ns/µs/ms/s with 3 significant digits."""
    if ns is None or (isinstance(ns, float) and math.isnan(ns)):
        return ""
    for unit, size in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if abs(ns) >= size:
            return f"{ns / size:.3g}{unit}"
    return f"{ns:.0f}ns"


def nbytes(n: float | None) -> str:
    """A byte count as B/KiB/MiB/GiB."""
    if n is None:
        return ""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{int(n)}B"


def sparklines(rows: list[np.ndarray], width: int = 8) -> list[str]:
    """Block-glyph sparklines, one per row of values, vectorised over all rows.

    Each row is cut into ``width`` equal slices whose means are scaled between the row's own min and
    max; a row whose values span decades (a loss) is scaled on log10 so its decay shape shows.
    """
    import numpy as np

    glyphs_table = np.array(list(SPARK_GLYPHS))
    out = []
    mat = np.full((len(rows), width), np.nan)
    for i, values in enumerate(rows):
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        slices = min(width, values.size)  # a short series fills the first slices, no holes
        idx = (np.arange(values.size) * slices) // values.size
        sums = np.bincount(idx, values, minlength=width)
        counts = np.bincount(idx, minlength=width)
        with np.errstate(invalid="ignore", divide="ignore"):
            mat[i] = sums / counts
    with np.errstate(invalid="ignore", divide="ignore"):
        positive = np.nanmin(mat, axis=1, initial=np.inf) > 0
        ratio = np.nanmax(mat, axis=1, initial=-np.inf) / np.nanmin(mat, axis=1, initial=np.inf)
        use_log = positive & (ratio > 20)
        mat[use_log] = np.log10(mat[use_log])
        lo = np.nanmin(np.where(np.isnan(mat), np.inf, mat), axis=1, keepdims=True)
        hi = np.nanmax(np.where(np.isnan(mat), -np.inf, mat), axis=1, keepdims=True)
        span = np.where(hi > lo, hi - lo, 1.0)
        level = np.clip(((mat - lo) / span * 7).round(), 0, 7)
    for i in range(len(rows)):
        row = level[i]
        glyphs = np.where(np.isnan(row), " ", glyphs_table[np.nan_to_num(row).astype(int)])
        out.append("".join(glyphs).rstrip())
    return out


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts and lists to 'a.b' / 'layers[0]' keys (for filters, diffs, hparams)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        _flatten_into(out, name, value)
    return out


def _flatten_into(out: dict[str, Any], name: str, value: Any) -> None:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            _flatten_into(out, f"{name}.{k}", v)
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            _flatten_into(out, f"{name}[{i}]", v)
    else:
        out[name] = value
