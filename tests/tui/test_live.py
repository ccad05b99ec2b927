"""Live mode: a trainer in another process logs while the app is open; new runs and points appear."""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.tui.app import make_app
from tracker.tui.messages import RunsLoaded
from tracker.tui.screens.run import RunScreen
from tracker.tui.screens.runs import (
    LIVE_MAX_INTERVAL,
    RunsScreen,
    collector_paused,
    live_interval,
)
from tracker.tui.widgets.chart import LineChart
from tracker.tui.widgets.runs_table import RunsTable

# The trainer logs 10 steps per line it reads on stdin, flushes, and says how far it got.
TRAINER = """
import sys, tracker
run = None  # created on the first command, so the app's first load sees only the earlier run
step = 0
for line in sys.stdin:
    if line.strip() == "finish":
        break
    if run is None:
        run = tracker.init("live", "live-run", db=sys.argv[1])
    for _ in range(10):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
        step += 1
    run.flush()
    print(step, flush=True)
run.finish()
print("done", flush=True)
"""


async def test_new_runs_and_points_appear_while_training(db_path: Path, ui) -> None:
    with tracker.init("live", "earlier", db=db_path) as run:
        run.log({"loss": 2.0})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", TRAINER, str(db_path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None

    async def train(command: str = "go") -> str:
        proc.stdin.write(f"{command}\n".encode())
        await proc.stdin.drain()
        return (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()

    try:
        app = make_app(db_path, live=True)
        async with app.run_test(size=(120, 30)) as pilot:
            await ui.wait_for(pilot, lambda: isinstance(app.screen, RunsScreen)
                              and app.screen.loaded, "the runs")
            table = app.screen.query_one(RunsTable)
            assert table.row_count == 1
            assert await train() == "10"

            def row_of(name: str) -> str | None:
                return next((str(r.key.value) for r in table.ordered_rows
                             if table.get_cell(r.key, "name").plain == name), None)

            await ui.wait_for(pilot, lambda: row_of("live-run") is not None, "the new run")
            live_id = row_of("live-run")
            assert table.get_cell(live_id, "status").plain == "● running"
            assert await train() == "20"
            await ui.wait_for(pilot, lambda: table.get_cell(live_id, "step").plain == "19",
                              "the step to move on")

            table.move_cursor(row=table.get_row_index(live_id))
            await pilot.press("enter")
            await ui.wait_for(pilot, lambda: isinstance(app.screen, RunScreen)
                              and len(app.screen.query(LineChart)) == 1, "the chart")
            chart = app.screen.query_one(LineChart)
            await ui.wait_for(pilot, lambda: chart.series_names == ["live-run"], "the curve")
            assert np.isclose(chart.values_at(19)["live-run"], 1 / 20)
            assert await train() == "30"
            await ui.wait_for(pilot, lambda: np.isclose(chart.values_at(29)["live-run"], 1 / 30),
                              "new points on the open chart")
            assert chart.values_at(25)["live-run"] == 1 / 26  # appended, not rebuilt wrong

            await pilot.press("escape")
            assert await train("finish") == "done"
            await ui.wait_for(pilot, lambda: table.get_cell(live_id, "status").plain
                              == "✓ finished", "the run to finish")
            assert table.get_cell(live_id, "step").plain == "29"
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def test_live_interval_adapts_to_slow_reads() -> None:
    assert live_interval(0.002) == 1.0  # a small store: every second
    assert live_interval(0.35) == pytest.approx(3.5)  # a big one: reloads take <10% of a core


def test_live_interval_is_capped() -> None:
    # A read stalled for seconds (GIL, CPU wait on a busy machine) must not stop live updates
    # for ten times as long.
    assert live_interval(1.5) == LIVE_MAX_INTERVAL == 10.0
    assert live_interval(3600.0) == LIVE_MAX_INTERVAL


def run_header_text(app) -> str:
    return str(app.screen.query_one("#run-header").render())


async def test_the_run_header_follows_a_live_run_until_it_finishes(db_path: Path, ui) -> None:
    run = tracker.init("live", "header", db=db_path)
    try:
        for step in range(10):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        run.flush()
        app = make_app(db_path, live=True)
        async with app.run_test(size=(120, 30)) as pilot:
            await ui.wait_for(pilot, lambda: isinstance(app.screen, RunsScreen)
                              and app.screen.loaded and app.screen.query_one(RunsTable).row_count,
                              "the runs")
            await pilot.press("enter")
            await ui.wait_for(pilot, lambda: isinstance(app.screen, RunScreen)
                              and "step 9" in run_header_text(app), "the header")
            assert "● running" in run_header_text(app)
            for step in range(10, 435):
                run.log({"loss": 1.0 / (step + 1)}, step=step)
            run.flush()
            await ui.wait_for(pilot, lambda: "step 434" in run_header_text(app), "the new step")
            run.finish()
            await ui.wait_for(pilot, lambda: "✓ finished" in run_header_text(app), "the end")
            assert "running" not in run_header_text(app) and "step 434" in run_header_text(app)
    finally:
        run.finish()


async def test_the_app_opens_on_a_store_that_does_not_exist_yet(tmp_path: Path, ui) -> None:
    path = tmp_path / "later" / "new.db"  # not even its folder exists
    loads: list[RunsLoaded] = []

    def hook(message: object) -> None:
        if isinstance(message, RunsLoaded):
            loads.append(message)

    app = make_app(path, live=True)
    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        await ui.wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.loaded,
                          "the empty screen")
        hint = app.screen.query_one("#runs-empty")
        await ui.wait_for(pilot, lambda: "No store at" in str(hint.render()), "the hint")
        text = str(hint.render())
        assert "tracker.init(" in text and f"db={str(path)!r}" in text  # how to log a first run
        assert "python -m tracker.demo" in text
        assert not path.exists() and not path.parent.exists()  # the app never creates it
        seen = len(loads)
        await ui.wait_for(pilot, lambda: len(loads) >= seen + 2, "two more reloads")
        assert all(m.missing and not m.runs for m in loads)  # they found nothing...
        assert not path.parent.exists() and app.is_running  # ...and changed nothing

        with tracker.init("first", "first-run", db=path) as run:  # the file appears now
            run.log({"train/loss": 0.5}, step=0)
        table = app.screen.query_one(RunsTable)
        await ui.wait_for(pilot, lambda: table.row_count == 1, "the first run")
        assert not hint.display and table.display
        assert "metric.train/loss" in [str(c.label) for c in table.columns.values()]
        await ui.wait_for(pilot, lambda: app.focused is table, "the table to take the focus")


async def test_an_empty_store_file_is_shown_as_empty_and_left_untouched(tmp_path: Path, ui) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    app = make_app(path, live=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await ui.wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.loaded,
                          "the empty screen")
        assert "No runs in" in str(app.screen.query_one("#runs-empty").render())
        assert "open the app again" in str(app.screen.query_one("#runs-empty").render())
    assert path.stat().st_size == 0 and not Path(f"{path}-wal").exists()


async def test_a_failed_reload_keeps_the_runs_shown_and_says_why(db_path: Path, ui) -> None:
    with tracker.init("live", "kept", db=db_path) as run:
        run.log({"loss": 1.0})
    from tracker.store.sqlite import pool

    pool.close_all()
    app = make_app(db_path, live=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await ui.wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.loaded,
                          "the runs")
        table = app.screen.query_one(RunsTable)
        await ui.wait_for(pilot, lambda: table.row_count == 1, "the run")
        for suffix in ("-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        db_path.write_bytes(b"this is not a database " * 200)  # replaced under the app
        status = app.screen.query_one("#runs-status")
        await ui.wait_for(pilot, lambda: "not updating" in str(status.render()), "the message")
        assert table.row_count == 1 and table.display  # what was shown stays
        assert "not a tracker store" in str(status.render())


def test_the_run_list_read_pauses_the_collector_and_gives_back_its_state():
    """The run list is built with the cyclic collector off, and it is left as it was found: on
    after a read (one that failed too), still off for a program that turned it off itself."""
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("read failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
