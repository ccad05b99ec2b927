"""Snapshot tests of the main screens on a seeded store with fixed ids, times and values."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import tracker.run
import tracker.run.run
import tracker.run.start
from tracker.demo import BASE_WALL, seed_demo
from tracker.tui.app import make_app
from tracker.tui.widgets.chart import LineChart
from tracker.tui.widgets.images_panel import ImagesPanel
from tracker.tui.widgets.runs_table import RunsTable

SIZE = (100, 30)
NOW = BASE_WALL + 86_400.0  # the app's "now": a day after the runs


@pytest.fixture(scope="module")
def snap_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo store with ids, times, host and pid fixed, so every frame is reproducible."""
    path = tmp_path_factory.mktemp("snap") / "snap.db"
    ticks = itertools.count()
    ids = (f"run{i:05d}" for i in itertools.count())
    with pytest.MonkeyPatch.context() as mp:
        clock = lambda: BASE_WALL + 37.0 * next(ticks)  # noqa: E731
        mp.setattr(tracker.run.run, "_now", clock)
        mp.setattr(tracker.run.start, "_now", clock)
        mp.setattr(tracker.run.start, "new_run_id", lambda: next(ids))
        mp.setattr(tracker.run.start.os, "getpid", lambda: 4242)  # shown in the config tab
        mp.setattr(tracker.run.start.socket, "gethostname", lambda: "gpu-box")
        seed_demo(path)
    return path


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start times are shown in local time: make it UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def app_on(db: Path):
    app = make_app(db, live=False, clock=lambda: NOW)
    app.animation_level = "none"  # a tab underline caught mid-slide would differ run to run
    return app


def _charts_drawn(count: int = 1) -> Callable[[object], bool]:
    def check(app) -> bool:
        charts = list(app.screen.query(LineChart))
        return len(charts) == count and all(c.series_names for c in charts)

    return check


def _text_shown(text: str) -> Callable[[object], bool]:
    return lambda app: text in app.export_screenshot().replace("&#160;", " ")


def _text_at_newest(app) -> bool:
    """The text tab has scrolled its newest text into view (it scrolls after the Markdown lays out)."""
    body = app.screen.query_one("#text-body")
    return body.max_scroll_y > 0 and body.scroll_y == body.max_scroll_y


def _sparks_loaded(app) -> bool:
    return bool(app.screen.query_one(RunsTable).sparks)


SPARKS = _sparks_loaded
BASELINE = ("s", "s", "down")  # sorted by name, the cursor on "baseline"


def test_runs_screen(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps(SPARKS))


def test_runs_screen_small_terminal(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=(80, 24), run_before=ui.steps(SPARKS))


def test_runs_screen_light_filtered_selected(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps(
        SPARKS, "slash", *"project == mnist", "enter", *BASELINE, "space", "ctrl+t", SPARKS))


def test_run_charts(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps(
        *BASELINE, "enter", _charts_drawn()))


def test_run_config(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps(
        *BASELINE, "enter", _charts_drawn(), "2", _text_shown("best_acc")))


def test_run_histograms(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps(
        *BASELINE, "enter", _charts_drawn(), "3", _text_shown("(8 steps)")))


def test_run_graph(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps(
        *BASELINE, "enter", _charts_drawn(), "5", _text_shown("7 nodes"), "down", "enter",
        "down", "enter", _text_shown("block0")))


def test_run_profile(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps(
        *BASELINE, "enter", _charts_drawn(), "6", _text_shown("aten::addmm")))


def test_compare_charts(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps(
        *BASELINE, "space", "space", "c", _charts_drawn()))


def test_compare_config_diff(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps(
        *BASELINE, "space", "space", "space", "c", _charts_drawn(), "2",
        _text_shown("batch_size")))


def _images_shown(step: int, count: int = 1) -> Callable[[object], bool]:
    def check(app) -> bool:
        views = app.screen.query_one(ImagesPanel).views()
        return len(views) == count and all(v.image is not None and v.step == step
                                           for v in views)

    return check


def test_run_images(snap_compare, snap_db: Path, ui) -> None:
    """The Images tab in half blocks: key list, slider at the last step, caption and step line."""
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps(
        *BASELINE, "enter", _charts_drawn(), "9", _images_shown(300), "left",
        _images_shown(200)))


def test_compare_images(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps(
        *BASELINE, "space", "space", "c", _charts_drawn(), "4", _images_shown(300, 2)))


def test_help_screen(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps("question_mark"))


def test_delete_confirmation(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps(*BASELINE, "d"))


def test_runs_screen_grouped(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps(
        SPARKS, *BASELINE, "g", SPARKS))


def test_run_text_markdown(snap_compare, snap_db: Path, ui) -> None:
    assert snap_compare(app_on(snap_db), terminal_size=SIZE, run_before=ui.steps(
        *BASELINE, "enter", _charts_drawn(), "4", _text_shown("confidence 0.85"),
        _text_at_newest))


def test_empty_store(snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ui) -> None:
    monkeypatch.chdir(tmp_path)  # the hint names the path as given: "new.db"

    async def run_before(pilot) -> None:
        await ui.wait_for(pilot, lambda: _text_shown("No store at new.db")(pilot.app),
                          "the empty screen")

    assert snap_compare(app_on(Path("new.db")), terminal_size=(80, 24), run_before=run_before)
