"""The run screen's System tab (sys/ series in one grid) and Logs tab (live follow, search,
stream filter, a chart's point opening the logs at its step); GPU columns in the runs table."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import Input, SelectionList, TabbedContent

import tracker
import tracker.run.run
import tracker.run.start
from tracker.tui.app import make_app
from tracker.tui.screens.columns import ColumnsScreen, default_columns
from tracker.tui.screens.run import RunScreen
from tracker.tui.widgets.chart import LineChart
from tracker.tui.widgets.charts_panel import ChartsPanel
from tracker.tui.widgets.log_view import LogView
from tracker.tui.widgets.metric_picker import MetricPicker

SIZE = (110, 32)
WALL0 = 1_700_000_000.0
SYS = {"sys/cpu_percent": 30.0, "sys/memory_percent": 40.0, "sys/gpu0/util_percent": 90.0,
       "sys/gpu0/memory_percent": 60.0, "sys/proc/rss_mib": 900.0}


@pytest.fixture
def db_path(any_store: Path) -> Path:
    """Every test here runs on both backends (SQLite and PostgreSQL)."""
    return any_store


def _seed(db: Path, *, finish: bool = True) -> tracker.Run:
    run = tracker.init("sys", "trainer", db=db)
    steps = np.arange(20)
    run.log_series("loss", steps, 1.0 / (steps + 1), WALL0 + steps)
    for i, (key, level) in enumerate(SYS.items()):
        run.log_series(key, steps, level + 5 * np.sin(steps / 3 + i), WALL0 + steps)
    lines = [("stdout", WALL0, None, "loading \x1b[1mdata\x1b[0m")]
    for s in range(20):
        lines.append(("stdout", WALL0 + s, s, f"step {s} loss {1 / (s + 1):.3f}"))
        if s == 12:
            lines.append(("stderr", WALL0 + s, s, "warning: grad norm is NaN"))
    run.log_console(lines)
    if finish:
        run.finish()
    else:
        run.flush()
    return run


@pytest.fixture
def sys_db(db_path: Path) -> Path:
    _seed(db_path)
    return db_path


async def _open(pilot, ui) -> RunScreen:
    await ui.runs_ready(pilot)
    await pilot.press("enter")
    await ui.wait_for(pilot, lambda: isinstance(pilot.app.screen, RunScreen)
                      and pilot.app.screen.detail is not None, "the run screen")
    return pilot.app.screen


def _log(screen: RunScreen) -> LogView:
    return screen.query_one(LogView)


async def test_system_tab_charts_the_sys_series_in_a_grid_and_charts_keeps_the_rest(
    sys_db: Path, ui,
) -> None:
    app = make_app(sys_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot, ui)
        charts = screen.query_one("#charts").query_one(ChartsPanel)
        await ui.wait_for(pilot, lambda: charts.keys_shown, "the charts' keys")
        assert charts.keys == ["loss"]  # sys/ series are the System tab's
        await pilot.press("7")
        await ui.wait_for(pilot, lambda: screen.query("#system-panel")
                          and len([c for c in screen.query_one("#system-panel").query(LineChart)
                                   if c.series_names]) == len(SYS), "the system charts")
        panel = screen.query_one("#system-panel", ChartsPanel)
        assert panel.keys == sorted(SYS) and panel.grid and panel.x_mode == "relative"
        titles = [c.title for c in panel.query(LineChart)]
        assert titles[:2] == ["sys/gpu0/util_percent", "sys/gpu0/memory_percent"]
        assert set(panel.query_one(MetricPicker).shown) == set(SYS)


async def test_logs_tab_shows_lines_searches_with_highlight_and_filters_streams(
    sys_db: Path, ui,
) -> None:
    app = make_app(sys_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot, ui)
        await pilot.press("8")
        view = _log(screen)
        await ui.wait_for(pilot, lambda: view.loaded, "the lines")
        shown = view.shown_text()
        assert shown[0] == "       - loading data"  # no step yet; the escapes left out
        assert shown[1] == "       0 step 0 loss 1.000" and len(shown) == 22
        await pilot.press("slash", *"NaN", "enter")
        await ui.wait_for(pilot, lambda: view.shown_text() == [
            "      12 warning: grad norm is NaN"], "the search")
        highlighted = view._line_text(view.lines[0])
        assert any(span.style == "black on yellow" and highlighted.plain[span.start:span.end]
                   == "NaN" for span in highlighted.spans)
        await pilot.press("slash")
        screen.query_one("#log-search", Input).value = ""
        await pilot.press("enter")  # an empty search shows every line again
        await ui.wait_for(pilot, lambda: len(view.shown_text()) == 22, "all lines again")
        await pilot.press("t", "t")  # all -> stdout -> stderr
        await ui.wait_for(pilot, lambda: [ln.stream for ln in view.lines] == ["stderr"],
                          "stderr only")
        assert "stderr only" in ui.screen_text(app)


async def test_a_charts_point_and_l_open_the_logs_at_its_step(sys_db: Path, ui) -> None:
    app = make_app(sys_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot, ui)
        chart = screen.query_one("#charts").query_one(LineChart)
        await ui.wait_for(pilot, lambda: bool(chart.series_names), "the loss chart")
        chart.focus()
        chart.cursor_x = 12.0
        await pilot.press("l")
        view = _log(screen)
        await ui.wait_for(pilot, lambda: view.loaded and view.at_step == 12, "the jump")
        assert screen.query_one(TabbedContent).active == "logs"
        assert not view.following
        steps = [ln.step for ln in view.lines]
        assert steps[0] is not None and steps[0] < 12 and 12 in steps  # a few lines before it
        await pilot.press("f")  # back to the newest lines
        await ui.wait_for(pilot, lambda: view.following and len(view.lines) == 22, "following")


async def test_logs_follow_a_running_run_until_it_ends(db_path: Path, ui) -> None:
    run = _seed(db_path, finish=False)
    try:
        app = make_app(db_path, live=True)
        async with app.run_test(size=SIZE) as pilot:
            screen = await _open(pilot, ui)
            await pilot.press("8")
            view = _log(screen)
            await ui.wait_for(pilot, lambda: view.loaded and len(view.lines) == 22, "the lines")
            run.log({"loss": 0.01}, step=20)
            run.log_console([("stdout", WALL0 + 30, 20, "step 20 new line")])
            run.flush()
            await ui.wait_for(pilot, lambda: view.shown_text()[-1] == "      20 step 20 new line",
                              "the live line")
            run.log_console([("stderr", WALL0 + 31, 20, "the last words")])
            run.finish()
            await ui.wait_for(pilot, lambda: view.shown_text()[-1] == "      20 the last words",
                              "the line stored at the end")
    finally:
        run.finish()


def test_gpu_columns_are_picked_not_default_and_the_table_shows_them(db_path: Path) -> None:
    _seed(db_path)
    with tracker.open_store(db_path) as store:
        runs = store.runs()
    metrics, _ = default_columns(runs)
    assert metrics == ["loss"]
    from tracker.tui.screens.columns import metric_keys

    assert metric_keys(runs)[0] == "loss" and "sys/gpu0/util_percent" in metric_keys(runs)


async def test_the_runs_table_shows_gpu_use_with_a_sparkline(sys_db: Path, ui) -> None:
    app = make_app(sys_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        table = await ui.runs_ready(pilot)
        await pilot.press("m")  # the column picker lists the GPU series among the metrics
        await ui.wait_for(pilot, lambda: isinstance(app.screen, ColumnsScreen), "the picker")
        picker = app.screen.query_one(SelectionList)
        picker.select(("metric", "sys/gpu0/util_percent"))
        picker.select(("metric", "sys/gpu0/memory_percent"))
        app.screen.action_apply()
        await ui.wait_for(pilot, lambda: ("trainer" in ui.names(table)) and any(
            key == "sys/gpu0/util_percent" for _, key in table.sparks), "the GPU sparkline")
        assert [c.arg for c in table.columns_spec if c.kind == "metric"][-2:] == [
            "sys/gpu0/util_percent", "sys/gpu0/memory_percent"]
        glyphs = [g for (_, key), g in table.sparks.items() if key == "sys/gpu0/util_percent"]
        assert glyphs and glyphs[0].strip()


# -- snapshots ---------------------------------------------------------------------------------

@pytest.fixture
def snap_sys_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    db_path = tmp_path / "tracker.db"  # one kind of store is enough for the pictures
    ticks = itertools.count()
    ids = (f"run{i:05d}" for i in itertools.count())
    clock = lambda: WALL0 + 37.0 * next(ticks)  # noqa: E731
    monkeypatch.setattr(tracker.run.run, "_now", clock)
    monkeypatch.setattr(tracker.run.start, "_now", clock)
    monkeypatch.setattr(tracker.run.start, "new_run_id", lambda: next(ids))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    _seed(db_path)
    monkeypatch.undo()
    time.tzset()
    yield db_path
    from tracker.store.sqlite import pool

    pool.close_all()


def _app(db: Path):
    app = make_app(db, live=False, clock=lambda: WALL0 + 86_400.0)
    app.animation_level = "none"
    return app


def _system_drawn(app) -> bool:
    panels = app.screen.query("#system-panel")
    return bool(panels) and len([c for c in panels.first().query(LineChart)
                                 if c.series_names]) == len(SYS)


def test_snapshot_system_tab(snap_compare, snap_sys_db: Path, ui, monkeypatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    assert snap_compare(_app(snap_sys_db), terminal_size=SIZE, run_before=ui.steps(
        "enter", lambda app: isinstance(app.screen, RunScreen) and app.screen.detail is not None,
        "7", _system_drawn))


def test_snapshot_logs_tab_searched(snap_compare, snap_sys_db: Path, ui, monkeypatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    assert snap_compare(_app(snap_sys_db), terminal_size=SIZE, run_before=ui.steps(
        "enter", lambda app: isinstance(app.screen, RunScreen) and app.screen.detail is not None,
        "8", lambda app: app.screen.query_one(LogView).loaded,
        "slash", *"loss 0.0", "enter",
        lambda app: len(app.screen.query_one(LogView).lines) == 10))
