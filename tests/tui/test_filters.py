"""The runs filter language, on plain records (no app needed)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.records import RunInfo
from tracker.tui.filters import MAX_DEPTH, FilterError, FilterRow, compile_filter


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


@pytest.mark.parametrize("source, message, position", [
    ("lr <", "ends after '<' at position 4; finish the comparison", None),
    ("(lr < 1", "the '(' at position 1 is not closed; add ')'", 0),
    ("lr < 1 and (b or (c)", "the '(' at position 12 is not closed", 11),
    ("lr < 1)", "unexpected ')' at position 7: no '(' to close", 6),
    ("< 3", "unexpected '<' at position 1", 0),
    ("train/loss > abc", "'abc' at position 14 is not a number: '>' compares numbers", 13),
    ("lr <= none", "'none' at position 7 is not a number", 6),
    ("step >= '5'", "is not a number", 8),
    ("lr < 1 and", "ends after 'and' at position 8; add a term", None),
    ("lr < (", "'<' at position 4 needs a value after it, not '('", 5),
    ('name == "a', "the quote at position 9 is not closed", 8),
    ("a ! b", "'!' at position 3: write != to compare, or not", 2),
])
def test_bad_filters_say_what_is_wrong_and_where(source: str, message: str,
                                                 position: int | None) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(source)
    assert message in str(caught.value)
    assert caught.value.position == position


def test_text_compared_by_equality_still_works() -> None:
    assert matches("status == finished") and matches("name ~ base") and matches("lr > 1e-5")


def test_a_pasted_filter_of_thousands_of_terms_compiles_and_runs() -> None:
    # 1000 terms (2000 characters) used to nest 1000 closures: RecursionError on the first row.
    assert matches(" ".join(["base"] * 1000))
    assert not matches(" ".join(["base"] * 999 + ["resnet"]))
    assert matches(" or ".join(["train/loss > 5"] * 1000 + ["lr < 1e-3"]))
    assert matches(" and ".join(["not train/loss > 5"] * 1000))


@pytest.mark.parametrize("source", [
    "(" * 1000 + "a" + ")" * 1000,
    "not " * 1000 + "a",
    "(not " * 600 + "a" + ")" * 600,
])
def test_a_filter_nested_too_deep_is_a_message_not_a_crash(source: str) -> None:
    with pytest.raises(FilterError, match=f"more than {MAX_DEPTH} deep"):
        compile_filter(source)
    nested = "(" * MAX_DEPTH + "base" + ")" * MAX_DEPTH  # the limit itself works
    assert matches(nested)


def test_too_many_terms_is_a_message() -> None:
    with pytest.raises(FilterError, match="too"):
        compile_filter(" ".join(["a"] * 100_000))


@given(st.text(max_size=40))
def test_any_text_compiles_or_raises_filter_error(source: str) -> None:
    try:
        pred = compile_filter(source)
    except FilterError:
        return
    assert pred(FilterRow.of(run())) in (True, False)
