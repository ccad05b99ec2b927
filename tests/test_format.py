"""The formatting shared by the CLI and the app: literal text, status, numbers, times, sparklines."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np
import pytest

from tracker.format import (
    clean,
    duration,
    literal,
    number,
    sparklines,
    status_mark,
    status_style,
    status_text,
    timestamp,
    when,
)


def test_clean_removes_every_terminal_control() -> None:
    hostile = "[bold red]x\x1b[2J\x07\x9b31m\r\nend"
    shown = clean(hostile)
    assert "[bold red]x" in shown and "end" in shown
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert clean("a\nb\tc", multiline=True) == "a\nb\tc"
    text = literal("[bold]x[/bold]")
    assert text.plain == "[bold]x[/bold]" and not text.spans


def test_sparklines_scale_each_row_and_keep_shape() -> None:
    decay = np.exp(-np.arange(100) / 10.0)  # spans decades: drawn on log10
    rising = np.linspace(0, 1, 100)
    lines = sparklines([decay, rising, np.array([np.nan]), np.array([5.0, 5.0])], width=8)
    assert lines[0][0] == "█" and lines[0][-1] == "▁"
    assert lines[1] == "▁▂▃▄▄▅▆█" or (lines[1][0] == "▁" and lines[1][-1] == "█")
    assert lines[2] == ""
    assert lines[3] == "▁▁"


@pytest.mark.parametrize(("value", "text"), [
    (None, ""), (0.123456, "0.1235"), (12345.678, "1.235e+04"), (math.nan, "nan"),
    (math.inf, "inf"), (-math.inf, "-inf"), (3, "3"),
])
def test_numbers_are_compact(value: float | None, text: str) -> None:
    assert number(value) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0, "0s"), (42.9, "42s"), (187.0, "3m07s"), (5 * 3600 + 120, "5h02m"),
    (math.inf, "?"), (math.nan, "?"),
])
def test_durations(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_times_short_in_the_app_and_full_in_listings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        now = 1_767_225_600.0 + 59 * 86_400 + 12 * 3600  # 2026-03-01 12:00 UTC
        assert when(now - 60, now) == "11:59:00"  # today
        assert when(now - 10 * 86_400, now) == "Feb 19 12:00"  # this year
        assert when(now - 400 * 86_400, now) == "2025-01-25"
        assert timestamp(now) == "2026-03-01 12:00"
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("ts", [1e300, -1e300, math.inf, math.nan])
def test_a_time_outside_the_calendar_is_a_question_mark(ts: float) -> None:
    assert when(ts, 1_767_225_600.0) == "?"
    assert timestamp(ts) == "?"


def test_status_words_marks_and_styles() -> None:
    assert (status_text("finished"), status_mark("finished"), status_style("running")) == (
        "finished", "✓", "bold green")
    assert status_mark("paused") == "?" and status_style("paused") == ""
    note = "config is not a JSON object"
    assert status_text("finished", note) == "finished (damaged)"
    assert status_mark("finished", note) == "!" and status_style("running", note) == "red"


def test_the_module_loads_neither_textual_nor_rich_nor_numpy() -> None:
    probe = "import tracker.format, sys; print(sorted(m.split('.')[0] for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert not {"textual", "rich", "numpy"} & set(eval(out.stdout))  # noqa: S307
