"""Screens read, widgets draw: typed results reach the widgets, and stale ones are dropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.tui import reads
from tracker.tui.app import make_app
from tracker.tui.messages import (
    CurvesLoaded,
    HistogramsLoaded,
    RunHeaderLoaded,
    RunsLoaded,
    TailsLoaded,
)
from tracker.tui.results import CurveData, TailMark
from tracker.tui.widgets.charts_panel import ChartsPanel
from tracker.tui.widgets.histogram_view import HistogramView

SIZE = (120, 36)


@pytest.fixture
def db_path(any_store: Path) -> Path:
    """Every test here runs on both backends (SQLite and PostgreSQL)."""
    return any_store


def test_a_newer_result_of_the_same_read_replaces_a_queued_one() -> None:
    assert RunsLoaded([], 0.1).can_replace(RunsLoaded([], 0.2))
    assert RunHeaderLoaded(None).can_replace(RunHeaderLoaded(None))
    a, b = TailMark("r1", "loss", 9.0), TailMark("r2", "loss", 9.0)
    assert TailsLoaded([], [a]).can_replace(TailsLoaded([], [a, b]))
    # read after another mark (the older tail was shown in between): both are needed
    assert not TailsLoaded([], [a]).can_replace(TailsLoaded([], [a._replace(after=19.0)]))
    assert not TailsLoaded([], [a, b]).can_replace(TailsLoaded([], [a]))
    assert not HistogramsLoaded("k", []).can_replace(HistogramsLoaded("k", []))


async def test_a_tail_read_twice_from_one_mark_is_drawn_once(db_path: Path, ui) -> None:
    run = tracker.init("p", "live", db=db_path)  # running: this process is alive
    try:
        run.log_series("loss", np.arange(100), np.linspace(1.0, 0.0, 100))
        run.flush()
        app = make_app(db_path, live=False)  # no timers: the test makes the live ticks
        async with app.run_test(size=SIZE) as pilot:
            screen = await ui.open_run(pilot, "live")
            panel = screen.query_one(ChartsPanel)
            await ui.wait_for(pilot, lambda: "loss" in panel.charts
                              and run.id in panel.charts["loss"].curves, "the curve")
            run.log_series("loss", np.arange(100, 150), np.zeros(50))
            run.flush()
            marks = panel.tail_marks()
            assert marks == [TailMark(run.id, "loss", 99.0)]
            with tracker.open_store(db_path) as store:  # two ticks read before either is shown
                first, second = reads.tails(store, marks), reads.tails(store, marks)
            screen.post_message(TailsLoaded(first, marks))
            screen.post_message(TailsLoaded(second, marks))
            curve = panel.charts["loss"].curves[run.id]
            await ui.wait_for(pilot, lambda: curve.last_step == 149.0, "the new points")
            await pilot.pause()
            panel.add_tails(second)  # shown after the first (not replaced in the queue): dropped
            assert curve.count == 150 and np.array_equal(curve.steps, np.arange(150))
            assert panel.tail_marks() == [TailMark(run.id, "loss", 149.0)]
    finally:
        run.finish()


async def test_curves_read_for_an_earlier_request_are_dropped(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ui.open_run(pilot)
        panel = screen.query_one(ChartsPanel)
        await ui.wait_for(pilot, lambda: panel.chart_for("train/loss") is not None
                          and panel.chart_for("train/loss").series_names == ["baseline"],
                          "the first chart")
        await pilot.press("p", "enter", "enter")  # the picker's first key, lr: a second chart
        await ui.wait_for(pilot, lambda: "lr" in panel.charts
                          and screen.run_id in panel.charts["lr"].curves, "the second chart")
        state = panel.charts["lr"]
        shown = state.curves[screen.run_id]
        assert state.generation == 1 and shown.count == 400
        late = CurveData(screen.run_id, "lr", np.arange(3.0), np.ones(3), None, count=3)
        screen.on_curves_loaded(CurvesLoaded("lr", None, 0, [late]))  # asked for earlier
        assert state.curves[screen.run_id] is shown
        screen.on_curves_loaded(CurvesLoaded("lr", None, 1, [late]))  # the last asked for
        assert state.curves[screen.run_id] is late


async def test_a_histogram_read_for_a_key_no_longer_chosen_is_dropped(demo_db: Path,
                                                                      ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ui.open_run(pilot)
        await pilot.press("3")
        view = screen.query_one(HistogramView)
        await ui.wait_for(pilot, lambda: view.key == "fc1/weight" and view.points, "the strip")
        screen.on_histograms_loaded(HistogramsLoaded("a/key/chosen/before", []))
        assert view.key == "fc1/weight" and len(view.points) == 8
