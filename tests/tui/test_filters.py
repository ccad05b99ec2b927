"""The runs filter language and the display helpers, on plain records (no app needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.records import RunInfo
from tracker.tui.filters import FilterError, FilterRow, compile_filter
from tracker.tui.format import clean, literal, sparklines


def run(**kw) -> RunInfo:
    base = dict(id="abc12345", project="mnist", name="baseline", group=None, status="finished",
                config={"lr": 1e-4, "optim": {"name": "adam"}, "layers": [64, 32], "amp": True},
                tags=["baseline"], notes=None, host=None, pid=None, rank=None, world_size=None,
                started=0.0, ended=10.0, heartbeat=10.0, last={"train/loss": 0.3}, last_step=99)
    base.update(kw)
    return RunInfo(**base)


def matches(source: str, info: RunInfo | None = None) -> bool:
    return compile_filter(source)(FilterRow.of(info or run()))


@pytest.mark.parametrize("source, expected", [
    ("", True),
    ("base", True),
    ("BASE", True),
    ("resnet", False),
    ("tag:baseline", True),
    ("tag:other", False),
    ("project:mnist", True),
    ("lr < 1e-3 and status == finished", True),
    ("lr < 1e-3 and status == running", False),
    ("lr < 1e-5 or status == finished", True),
    ("optim.name == adam", True),
    ("config.optim.name == adam", True),
    ("layers[0] == 64", True),
    ("layers[1] >= 33", False),
    ("train/loss < 0.5", True),
    ("metric.train/loss > 0.5", False),
    ("not (train/loss > 0.5)", True),
    ("step >= 99 lr <= 0.0001", True),  # side by side means "and"
    ("name ~ LINE", True),
    ("name == 'baseline'", True),
    ('name != "baseline"', False),
    ("amp == true", True),
    ("missing_key < 3", False),  # a missing side never matches an ordering
    ("missing_key == none", True),
    ("name < 3", False),  # text against a number: no match, no error
    ("duration > 5", True),
])
def test_filter_expressions(source: str, expected: bool) -> None:
    assert matches(source) is expected


def test_nan_metric_matches_only_not_equal() -> None:
    info = run(last={"loss": math.nan})
    assert not matches("loss < 1", info) and not matches("loss == 1", info)
    assert matches("loss != 1", info)


@pytest.mark.parametrize("source, message", [
    ("lr <", "finish the comparison"),
    ("(lr < 1", "finish the comparison"),
    ("lr < 1)", "unexpected ')'"),
    ("< 3", "unexpected '<'"),
])
def test_bad_filters_say_what_is_wrong(source: str, message: str) -> None:
    with pytest.raises(FilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_filter(source)


@given(st.text(max_size=40))
def test_any_text_compiles_or_raises_filter_error(source: str) -> None:
    try:
        pred = compile_filter(source)
    except FilterError:
        return
    assert pred(FilterRow.of(run())) in (True, False)


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
