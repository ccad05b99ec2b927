"""The app on a store with damaged rows: every run is listed, the damaged ones too (Pilot)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from textual.widgets import Static

import tracker
from tracker.store.sqlite import pool
from tracker.tui.app import make_app
from tracker.tui.widgets.runs_table import RunsTable

NAMES = ("good", "deep", "not-json", "text-started", "text-last", "good-too")


def damaged_store(db: Path) -> dict[str, str]:
    """Six runs; four rows damaged by hand as another program (or an old bug) could."""
    ids = {}
    for name in NAMES:
        with tracker.init("p", name, db=db, config={"lr": 0.1}) as run:
            run.log({"loss": 1.0})
        ids[name] = run.id
    pool.close_all()
    conn = sqlite3.connect(db)
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    conn.execute("UPDATE runs SET config = ? WHERE id = ?", (deep, ids["deep"]))
    conn.execute("UPDATE runs SET config = 'lr=0.1', summary = '{' WHERE id = ?",
                 (ids["not-json"],))
    conn.execute("UPDATE runs SET started = 'yesterday' WHERE id = ?", (ids["text-started"],))
    conn.execute("UPDATE series SET last_value = 'abc' WHERE run_id = ?", (ids["text-last"],))
    conn.commit()
    conn.close()
    return ids


async def test_the_app_lists_every_run_when_some_rows_are_damaged(db_path: Path, ui) -> None:
    damaged_store(db_path)
    app = make_app(db_path, live=False)
    async with app.run_test(size=(120, 36)) as pilot:
        table = await ui.runs_ready(pilot)
        assert sorted(ui.names(table)) == sorted(NAMES)
        # the run with the 100,000-deep config opens too (its config reads as empty)
        await ui.open_run(pilot, "deep")
        await pilot.press("2")  # its config tab
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.is_running


def status_cells(ui, table: RunsTable) -> dict[str, str]:
    return {name: table.get_cell(row.key, "status").plain
            for name, row in zip(ui.names(table), table.ordered_rows)}


async def test_damaged_runs_are_marked_and_the_run_header_says_what_is_wrong(db_path: Path,
                                                                             ui) -> None:
    damaged_store(db_path)
    app = make_app(db_path, live=False)
    async with app.run_test(size=(120, 36)) as pilot:
        table = await ui.runs_ready(pilot)
        cells = status_cells(ui, table)
        assert cells["good"] == cells["good-too"] == "✓ finished"
        damaged = ["deep", "not-json", "text-started", "text-last"]
        for name in damaged:
            assert cells[name] == "! finished (damaged)"  # as `tracker ls` says "(damaged)"
        await pilot.press("slash", *"damaged", "enter")  # free text finds them
        assert sorted(ui.names(table)) == sorted(damaged)
        screen = await ui.open_run(pilot, "not-json")
        header = str(screen.query_one("#run-header", Static).render())
        assert "! finished (damaged)" in header
        assert "\ndamaged: summary is not valid JSON" in header
        assert "config is not valid JSON" in header


async def test_a_time_outside_the_calendar_reads_as_a_question_mark(db_path: Path, ui) -> None:
    with tracker.init("p", "far-off", db=db_path) as run:
        run.log({"loss": 1.0})
    pool.close_all()
    conn = sqlite3.connect(db_path)  # numbers, so the row reads as sound: the app must cope
    conn.execute("UPDATE runs SET started = -1.7e308, ended = 1.7e308 WHERE id = ?", (run.id,))
    conn.commit()
    conn.close()
    app = make_app(db_path, live=False)
    async with app.run_test(size=(120, 36)) as pilot:
        table = await ui.runs_ready(pilot)
        key = table.ordered_rows[0].key
        assert table.get_cell(key, "started").plain == "?"
        assert table.get_cell(key, "duration").plain == "?"
        screen = await ui.open_run(pilot, "far-off")
        assert "started ?  ?" in str(screen.query_one("#run-header", Static).render())
        assert app.is_running
