"""Pilot tests of the app: every screen driven with keys on a real demo store, checked on screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.notifications import Notify
from textual.widgets import DataTable, Input, Static, Tree

import tracker
from tracker.demo import RUNS, seed_demo
from tracker.records import RunInfo
from tracker.tui.app import make_app
from tracker.tui.screens.compare import CompareScreen
from tracker.tui.screens.dialogs import ConfirmScreen, HelpScreen, PromptScreen
from tracker.tui.screens.run import RunScreen
from tracker.tui.screens.runs import FILTER_DEBOUNCE, RunsScreen
from tracker.tui.widgets.chart import LineChart
from tracker.tui.widgets.runs_table import RunsTable

SIZE = (120, 36)
HOSTILE = RUNS[5][1]


@pytest.fixture
def db_path(any_store: Path) -> Path:
    """Every test here runs on both backends (SQLite and PostgreSQL)."""
    return any_store


@pytest.fixture
def own_db(db_path: Path) -> Path:
    """A fresh demo store for a test that edits runs."""
    seed_demo(db_path)
    return db_path


async def test_runs_table_shows_every_run_with_metrics_and_config(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        table = await ui.runs_ready(pilot)
        assert table.row_count == len(RUNS)
        assert set(ui.names(table)) == {r[1].replace("\x1b", "\ufffd") for r in RUNS}
        labels = [str(c.label) for c in table.columns.values()]
        assert {"status", "project", "name", "group", "tags", "start", "time", "step"} <= set(labels)
        # A metric's last value and a varying config key, labelled so that the config's lr and
        # a logged lr cannot be confused (the same names a filter takes).
        assert "metric.train/loss" in labels and "config.lr" in labels
        assert "lr" not in labels and "metric.lr" not in labels
        header = table.columns[next(k for k in table.columns if k.value == "config:lr")].label
        assert [span.style for span in header.spans][:1] == ["dim"]  # the prefix is dimmed
        row = next(r.key for r in table.ordered_rows
                   if table.get_cell(r.key, "name").plain == "baseline")
        assert table.get_cell(row, "status").plain == "✓ finished"
        assert table.get_cell(row, "step").plain == "399"
        await ui.wait_for(pilot, lambda: "█" in table.get_cell(row, "metric:train/loss").plain
                          or "▁" in table.get_cell(row, "metric:train/loss").plain, "a sparkline")
        status = pilot.app.screen.query_one("#runs-status", Static)
        assert "6 of 6 runs" in str(status.render())


async def test_hostile_run_name_is_shown_literally(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=(200, 40)) as pilot:  # wide: the tags column is in view
        await ui.runs_ready(pilot)
        await pilot.pause()
        text = ui.screen_text(app)
        assert "[bold red]x" in text  # the markup is shown, not applied
        assert "\x1b" not in text and "[2J" in text  # the escape never reaches the terminal
        assert "[i]tag" in text


async def test_filter_text_expressions_and_tags(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        table = await ui.runs_ready(pilot)
        await pilot.press("slash", *"lr < 2e-3 and status == finished", "enter")
        assert sorted(ui.names(table)) == sorted(
            ["baseline", "sweep-a", HOSTILE.replace("\x1b", "\ufffd")])
        assert app.focused is table  # enter hands the keys back to the table
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"tag:baseline", "enter")
        assert ui.names(table) == ["baseline"]
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"layers[0] == 512", "enter")
        assert ui.names(table) == ["wide"]
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"sweep", "enter")
        assert sorted(ui.names(table)) == ["sweep-a", "sweep-b"]
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"train/acc > 0.99 or project == cifar",
                          "enter")
        assert sorted(ui.names(table)) == ["baseline", "high-lr", "sweep-a", "sweep-b"]
        before = ui.names(table)
        # The broken filter goes in as one edit: typed, its prefixes ("", "l", "lr") are good
        # filters, and a pause in typing (a loaded machine) lets the debounce apply one of them.
        await pilot.press("slash")
        app.screen.query_one("#filter", Input).value = "lr <"
        await pilot.press("enter")
        assert ui.names(table) == before  # a broken filter keeps the last good one
        assert "finish the comparison" in str(app.screen.query_one("#runs-status").render())


async def test_enter_applies_the_filter_once(demo_db: Path,
                                             monkeypatch: pytest.MonkeyPatch, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        table = await ui.runs_ready(pilot)
        box = app.screen.query_one("#filter", Input)
        fills: list[list[str]] = []  # the names each rebuild of the table shows
        real_fill = table.fill

        def counting_fill(runs: list[RunInfo]) -> None:
            fills.append(sorted(r.name for r in runs))
            real_fill(runs)

        monkeypatch.setattr(table, "fill", counting_fill)
        await pilot.press("slash", *"sweep", "enter")
        # The keys reached the box, so it had the focus: back on the table, enter was handled.
        await ui.wait_for(pilot, lambda: box.value == "sweep" and app.focused is table, "enter")
        assert fills[-1] == ["sweep-a", "sweep-b"]
        applied = len(fills)  # enter's rebuild (and any the debounce made if typing stalled)
        # Set after enter, this timer fires after the last keystroke's debounce timer would have.
        waited: list[bool] = []
        app.screen.set_timer(2 * FILTER_DEBOUNCE, lambda: waited.append(True))
        await ui.wait_for(pilot, lambda: bool(waited), "the debounce delay to pass")
        await pilot.pause()
        assert len(fills) == applied  # enter's filter is final: no second rebuild
        assert sorted(ui.names(table)) == ["sweep-a", "sweep-b"]

        await pilot.press("slash", "ctrl+a", "ctrl+k", *"wide")  # typing alone still applies
        await ui.wait_for(pilot, lambda: ui.names(table) == ["wide"], "the debounced filter")
        assert app.focused is box


async def test_sort_by_keys_and_group(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        table = await ui.runs_ready(pilot)
        await pilot.press("s", "s")  # status, name
        assert table.sort_column == "name"
        shown = ui.names(table)
        assert shown == sorted(shown, key=str.lower)
        await pilot.press("S")
        assert ui.names(table) == shown[::-1]
        await pilot.press("g")
        assert table.group_by == "project"
        projects = [table.get_cell(r.key, "project").plain for r in table.ordered_rows]
        assert projects == sorted(projects)
        assert "grouped by project" in str(app.screen.query_one("#runs-status").render())


async def test_select_and_compare_runs(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        table = await ui.runs_ready(pilot)
        await pilot.press("s", "s")  # by name: [bold red]x..., baseline, high-lr, ...
        await pilot.press("down", "space", "space", "c")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), "compare")
        screen = app.screen
        diff = screen.query_one("#config-diff", DataTable)
        await ui.wait_for(pilot, lambda: diff.row_count > 0, "the config diff")
        rows = [[c.plain for c in diff.get_row_at(i)] for i in range(diff.row_count)]
        assert rows == [["lr", "0.001", "0.01"]]  # only the key that differs
        stats = screen.query_one("#metric-stats", DataTable)
        cells = [[str(c) for c in stats.get_row_at(i)] for i in range(stats.row_count)]
        loss = next(c for c in cells if c[:2] == ["train/loss", "high-lr"])
        assert loss[4] == "4" and loss[5] == "400"  # max (the spike) and points
        await ui.wait_for(pilot, lambda: len(screen.query(LineChart)) == 1, "the chart")
        chart = screen.query_one(LineChart)
        await ui.wait_for(pilot, lambda: chart.series_names == ["baseline", "high-lr"],
                          "both runs on one chart")
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen) and len(table.selected) == 2


async def test_rename_tag_note_and_delete(own_db: Path, ui) -> None:
    app = make_app(own_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        table = await ui.runs_ready(pilot)
        await pilot.press("s", "s", "down")  # by name: [bold red]x..., baseline
        await pilot.press("r")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("ctrl+a", "ctrl+k", *"renamed [x]", "enter")
        await ui.wait_for(pilot, lambda: "renamed [x]" in ui.names(table), "the new name")
        await pilot.press("t", "ctrl+a", "ctrl+k", *"good, keep", "enter")
        assert table.get_cell(table.cursor_row_key(), "name").plain == "renamed [x]"
        await ui.wait_for(pilot, lambda: table.get_cell(table.cursor_row_key(), "tags").plain
                          == "good,keep", "the new tags")
        await pilot.press("n", *"needs a rerun", "enter")
        with tracker.open_store(own_db) as store:
            await ui.wait_for(pilot, lambda: any(r.notes == "needs a rerun" for r in store.runs()),
                              "the note")
            run = next(r for r in store.runs() if r.name == "renamed [x]")
            assert run.tags == ["good", "keep"]
        victim = table.cursor_row_key()
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert victim in table.runs_by_id  # "no" keeps it
        await pilot.press("d", "y")
        await ui.wait_for(pilot, lambda: victim not in table.runs_by_id, "the row to go")
        with tracker.open_store(own_db) as store:
            assert victim not in {r.id for r in store.runs()}
            assert len(store.runs()) == len(RUNS) - 1


async def test_run_detail_tabs(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ui.open_run(pilot)
        header = str(screen.query_one("#run-header", Static).render())
        assert "baseline" in header and "first try" in header and "step 399" in header
        await ui.wait_for(pilot, lambda: len(screen.query(LineChart)) == 1, "a chart")
        chart = screen.query_one(LineChart)
        await ui.wait_for(pilot, lambda: chart.series_names == ["baseline"], "the curve")

        await pilot.press("2")  # config: tree with values, searchable
        tree = screen.query_one("#config-tree", Tree)
        await ui.wait_for(pilot, lambda: "lr = 0.001" in ui.screen_text(app), "the config tree")
        assert "best_acc" in ui.screen_text(app)
        screen.query_one("#config-search").focus()
        await pilot.press(*"adam")
        await pilot.pause()
        text = ui.screen_text(app)
        assert "name = adam" in text and "batch_size" not in text
        assert tree.root.children

        await pilot.press("escape", "3")  # histograms: a heat strip per step
        await ui.wait_for(pilot, lambda: "fc1/weight  (8 steps)" in ui.screen_text(app),
                          "the histograms")
        assert "█" in ui.screen_text(app)

        await pilot.press("4")  # text, literally
        await ui.wait_for(pilot, lambda: "step 350: predicted 7" in ui.screen_text(app),
                          "the texts")

        await pilot.press("5")  # graph: scopes with totals, search
        await ui.wait_for(pilot, lambda: "7 nodes · 6 edges" in ui.screen_text(app), "the graph")
        assert "encoder" in ui.screen_text(app) and "109k params" in ui.screen_text(app)
        screen.query_one("#graph-search").focus()
        await pilot.press(*"relu")
        await ui.wait_for(pilot, lambda: "2 matching nodes" in ui.screen_text(app), "graph search")

        await pilot.press("escape", "6")  # profile: top ops, sortable, filterable
        ops = screen.query_one("#profile-ops", DataTable)
        await ui.wait_for(pilot, lambda: ops.row_count == 4, "the profile")
        assert ops.get_row_at(0)[0].plain == "aten::addmm"  # self time, largest first
        assert "10 steps" in ui.screen_text(app)
        ops.focus()
        await pilot.press("o")  # next sort column: total time
        assert [ops.get_row_at(i)[4].plain for i in range(4)] == ["5.1ms", "2.2ms", "900µs",
                                                                   "750µs"]
        await pilot.press("O")  # reversed
        assert ops.get_row_at(0)[0].plain == "aten::relu"
        screen.query_one("#profile-filter").focus()
        await pilot.press(*"relu")
        assert ops.row_count == 1
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, RunsScreen)


async def test_charts_picker_grid_and_x_axis(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ui.open_run(pilot, "high-lr")
        await ui.wait_for(pilot, lambda: len(screen.query(LineChart)) == 1, "a chart")
        first = screen.query_one(LineChart)
        assert first.title == "train/loss"  # a loss first
        await pilot.press("p")  # to the metric picker's search box
        assert app.focused is screen.query_one("#metric-search", Input)
        await pilot.press("enter")  # to the tree; pick lr, the first key
        tree = screen.query_one("#metric-tree", Tree)
        assert app.focused is tree
        await pilot.press("home", "enter")
        await ui.wait_for(pilot, lambda: len(screen.query(LineChart)) == 2, "a second chart")
        titles = [c.title for c in screen.query(LineChart)]
        assert titles == ["train/loss", "lr"]
        loss = screen.query(LineChart).first()
        await ui.wait_for(pilot, lambda: loss.series_names == ["high-lr"], "the loss curve")
        assert loss.values_at(150.0)["high-lr"] == pytest.approx(4.0)  # the spike survives
        await pilot.press("enter")  # the same key again hides its chart
        await ui.wait_for(pilot, lambda: len(screen.query(LineChart)) == 1, "one chart")
        await pilot.press("v")
        assert screen.query_one("#chart-area").has_class("grid")
        await ui.wait_for(pilot, lambda: len(screen.query(LineChart)) == 4, "a grid of charts")
        screen.query(LineChart).first().focus()
        await pilot.press("x")
        assert {c.x_label for c in screen.query(LineChart)} == {"wall time"}


async def test_help_theme_and_palette(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        await ui.runs_ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = ui.screen_text(app)
        assert "Compare" in text and "tag:baseline" in text
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        theme = app.theme
        await pilot.press("ctrl+t")
        assert app.theme != theme and "light" in app.theme
        await pilot.press("j", "j", "k")
        assert app.screen.query_one(RunsTable).cursor_row == 1


async def test_small_and_wide_terminals(demo_db: Path, ui) -> None:
    for size in ((80, 24), (200, 50)):
        app = make_app(demo_db, live=False)
        async with app.run_test(size=size) as pilot:
            table = await ui.runs_ready(pilot)
            assert table.row_count == len(RUNS)
            assert "baseline" in ui.screen_text(app)
            await ui.open_run(pilot)
            await ui.wait_for(pilot, lambda: len(pilot.app.screen.query(LineChart)) == 1, "a chart")


async def test_errors_are_one_line_notifications(demo_db: Path, ui) -> None:
    notes: list[str] = []

    def hook(message: object) -> None:
        if isinstance(message, Notify):
            notes.append(message.notification.message)

    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await ui.runs_ready(pilot)
        app.push_screen(RunScreen("no-such-run"))
        await ui.wait_for(pilot, lambda: bool(notes), "a notification")
        assert "no run matches 'no-such-run'" in notes[0] and "\n" not in notes[0]


async def test_export_selected_runs_to_tensorboard(demo_db: Path, tmp_path: Path, ui) -> None:
    from tracker.tui.screens.export import ExportScreen

    out = tmp_path / "tb"
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        await ui.runs_ready(pilot)
        await pilot.press("s", "s", "down", "space", "space", "x")  # baseline, high-lr
        assert isinstance(app.screen, ExportScreen)
        app.screen.query_one("#export-dir").value = str(out)  # a long path: not typed key by key
        await pilot.press("enter")
        await ui.wait_for(pilot, lambda: "exported 2 run(s)" in ui.screen_text(app), "the export")
        assert "tensorboard --logdir" in ui.screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
    events = sorted(p.parent.name for p in out.rglob("events.out.tfevents.*"))
    assert len(events) == 2 and events[0].startswith("baseline") and events[1].startswith("high-lr")
