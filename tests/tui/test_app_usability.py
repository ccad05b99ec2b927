"""Pilot tests of what a new user runs into: filter messages, focus, help, footer, grouping,
compare defaults, the profile's shapes, JAX's text forms and Markdown texts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from textual.notifications import Notify
from textual.widgets import DataTable, Input, Markdown, Static, TextArea, Tree

import tracker
from tracker.demo import RUNS
from tracker.tui.app import make_app
from tracker.tui.screens.compare import CompareScreen
from tracker.tui.screens.dialogs import HelpScreen
from tracker.tui.screens.run import RunScreen
from tracker.tui.screens.runs import RunsScreen
from tracker.tui.widgets.chart import LineChart

SIZE = (120, 36)


def status_line(app) -> str:
    return str(app.screen.query_one("#runs-status", Static).render())


# -- filter -------------------------------------------------------------------------------------
async def test_a_pasted_thousand_term_filter_does_not_crash_the_app(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        table = await ui.runs_ready(pilot)
        await pilot.press("slash")
        box = app.screen.query_one("#filter", Input)
        box.value = " ".join(["mnist"] * 1000)  # 6000 characters, pasted
        await pilot.press("enter")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, RunsScreen)
        assert sorted(ui.names(table)) == sorted(r[1].replace("\x1b", "\ufffd")
                                              for r in RUNS if r[0] == "mnist")
        await pilot.press("slash")
        box.value = "(" * 500 + "mnist" + ")" * 500  # too deep: a message, the app goes on
        await pilot.press("enter")
        await pilot.pause()
        assert app.is_running
        assert "more than 50 deep" in status_line(app)


async def test_filter_messages_say_what_is_wrong_and_where(demo_db: Path, ui) -> None:
    notes: list[str] = []

    def hook(message: object) -> None:
        if isinstance(message, Notify):
            notes.append(message.notification.message)

    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        table = await ui.runs_ready(pilot)
        before = ui.names(table)
        box = app.screen.query_one("#filter", Input)
        await pilot.press("slash")
        box.value = "train/loss > abc"  # was accepted and matched nothing
        await pilot.press("enter")
        await pilot.pause()
        assert "'abc' at position 14 is not a number" in status_line(app)
        assert any("position 14" in n for n in notes)
        assert ui.names(table) == before  # the last good filter stays
        assert app.focused is box and box.cursor_position == 13  # at the problem
        box.value = "status == finished and (lr < 0.01"
        await pilot.press("enter")
        await pilot.pause()
        assert "the '(' at position 24 is not closed; add ')'" in status_line(app)
        assert "finish the comparison" not in status_line(app)
        await pilot.press("end", ")", "enter")  # fixed where the cursor was put
        await pilot.pause()
        assert sorted(ui.names(table)) == sorted(["baseline", "sweep-a", HOSTILE])


HOSTILE = RUNS[5][1].replace("\x1b", "\ufffd")


# -- runs table ---------------------------------------------------------------------------------
async def test_home_and_end_go_to_the_first_and_last_row(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        table = await ui.runs_ready(pilot)
        await pilot.press("down", "down")
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("home")
        assert table.cursor_row == 0


async def test_space_selects_and_moves_down_as_the_footer_and_help_say(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        table = await ui.runs_ready(pilot)
        first = table.cursor_row_key()
        await pilot.press("space")
        assert table.selected == {first} and table.cursor_row == 1
        assert "space Select ↓" in ui.screen_text(app)  # the footer says it moves
        await pilot.press("question_mark")
        assert "Select or unselect the run, then move to the next row" in ui.screen_text(app)


async def test_grouping_shows_a_header_row_per_group(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=(160, 36)) as pilot:
        table = await ui.runs_ready(pilot)
        await pilot.press("s", "s")  # by name
        await pilot.press("g")
        shown = ui.names(table)
        assert shown[0].startswith("▾ cifar") and "2 runs" in shown[0]
        assert shown[1:3] == ["sweep-a", "sweep-b"]  # sorted by name inside the group
        assert shown[3].startswith("▾ mnist") and "4 runs" in shown[3]
        assert len(shown) == len(RUNS) + 2
        assert "6 of 6 runs" in status_line(app)  # headers are not runs
        text = ui.screen_text(app)
        assert "▾ cifar  2 runs" in text and "▾ mnist  4 runs" in text
        await pilot.press("home", "space", "enter")  # keys on a header do nothing to runs
        assert not table.selected and isinstance(app.screen, RunsScreen)
        await pilot.press("S")  # reversed: groups stay in order, their runs reverse
        shown = ui.names(table)
        assert shown[0].startswith("▾ cifar") and shown[1:3] == ["sweep-b", "sweep-a"]
        await pilot.press("g")  # by the group field: the runs without one get a header too
        shown = ui.names(table)
        assert any(n.startswith("▾ sweep-1") for n in shown)
        assert any(n.startswith("▾ (no group)") for n in shown)
        await pilot.press("g")  # no grouping: no header rows
        assert len(ui.names(table)) == len(RUNS)


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_help_and_quit_always_show_in_the_footer(demo_db: Path, size, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=size) as pilot:
        await ui.runs_ready(pilot)
        await pilot.pause()
        text = ui.screen_text(app)
        assert "? Help" in text and "q Quit" in text
        await ui.open_run(pilot)
        await ui.wait_for(pilot, lambda: bool(app.screen.query(LineChart)), "a chart")
        await pilot.pause()
        text = ui.screen_text(app)
        assert "? Help" in text and "q Quit" in text


# -- help ---------------------------------------------------------------------------------------
async def test_help_lists_each_key_once_as_the_footer_shows_it(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=(120, 60)) as pilot:
        await ui.runs_ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = ui.screen_text(app)
        assert re.search(r"enter\s+Open the run", text)
        assert "^q" not in text and re.search(r"\bq\s+Quit the app", text)  # as the footer
        assert text.count("tab / shift+tab") == 1 and "Next widget" not in text
        assert not re.search(r"\bj\s+Down", text) and not re.search(r"\bk\s+Up", text)
        assert text.count("j k") == 1
        assert text.count("Command palette") == 1 and "ctrl+p" not in text
        assert "`" not in text  # the filter help is plain text, not reStructuredText
        assert "tag:baseline" in text and "Filter" in text
        await pilot.press("escape")
        await ui.open_run(pilot)
        await pilot.press("question_mark")
        text = ui.screen_text(app)
        assert "tag:baseline" not in text and "Filter (/)" not in text  # no filter there
        assert "Back" in text


# -- focus --------------------------------------------------------------------------------------
async def test_a_tab_focuses_its_content_and_the_footer_shows_its_keys(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ui.open_run(pilot)
        await pilot.press("5")  # before the charts finished loading
        tree = screen.query_one("#graph-tree", Tree)
        await ui.wait_for(pilot, lambda: "7 nodes · 6 edges" in ui.screen_text(app), "the graph")
        await app.workers.wait_for_complete()  # the charts' read too
        await pilot.pause()
        assert app.focused is tree  # the chart that loaded meanwhile did not take it
        assert screen.query_one("TabbedContent").active == "graph"
        assert "enter Open/close" in ui.screen_text(app)  # the tree's keys in the footer
        await pilot.press("down", "right")  # right opens the scope, never switches tabs
        assert screen.query_one("TabbedContent").active == "graph"
        assert "block0" in ui.screen_text(app) or "encoder" in ui.screen_text(app)
        await pilot.click("#run-tabs Tab#--content-tab-profile")  # a click focuses too
        await pilot.pause()
        await ui.wait_for(pilot, lambda: app.focused is screen.query_one("#profile-ops"),
                          "the profile table to take the focus")
        assert "o Sort ops" in ui.screen_text(app)
        await pilot.press("1")
        await ui.wait_for(pilot, lambda: isinstance(app.focused, LineChart), "the chart")
        await pilot.press("p")  # p goes to the metric search box
        assert app.focused is screen.query_one("#metric-search", Input)
        await pilot.press(*"acc", "enter")  # enter: to the first match in the tree
        picker_tree = screen.query_one("#metric-tree", Tree)
        assert app.focused is picker_tree and picker_tree.cursor_node.data == "train/acc"
        assert "enter Chart on/off" in ui.screen_text(app)
        # The focused pane's edge is lit; the others' is blank.
        assert picker_tree.styles.border_left[1] != screen.query_one(LineChart).styles.border_left[1]


# -- compare ------------------------------------------------------------------------------------
@pytest.fixture
def wide_configs(db_path: Path) -> Path:
    """Two runs that differ in 40 config keys and share 17 metrics; only one logs `a_only`,
    and that one has a hook's all-zero activation stats too (alphabetically first)."""
    for i in range(2):
        config = {f"key{k:02d}": (k + 1) * (i + 1) for k in range(40)}
        with tracker.init("wide", f"run-{i}", config, db=db_path) as run:
            steps = np.arange(20)
            if i == 0:
                run.log_series("a_only", steps, np.ones(20))
                run.log_series("act_mean/fc1", steps, np.zeros(20))
                run.log_series("act_zero_frac/fc1", steps, np.zeros(20))
            for k in range(15):
                run.log_series(f"diag/m{k:02d}", steps, steps * 0.1 * k)
            run.log_series("train/loss", steps, 1 / (steps + 1))
            run.log_series("train/acc", steps, 1 - 1 / (steps + 1))
    return db_path


async def test_compare_tabs_fill_the_screen_and_open_a_shared_loss(wide_configs: Path, ui) -> None:
    app = make_app(wide_configs, live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await ui.runs_ready(pilot)
        await pilot.press("a", "c")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), "compare")
        screen = app.screen
        await ui.wait_for(pilot, lambda: len(screen.query(LineChart)) == 1
                          and screen.query_one(LineChart).series_names, "the first chart")
        assert screen.query_one(LineChart).title == "train/loss"  # shared by both, a loss
        await pilot.press("2")
        diff = screen.query_one("#config-diff", DataTable)
        await ui.wait_for(pilot, lambda: diff.row_count == 40, "the config diff")
        await pilot.pause()
        footer_top = app.size.height - 1
        assert diff.region.bottom >= footer_top - 1  # down to the footer, not 16 rows
        assert diff.size.height > 30
        await pilot.press("3")
        stats = screen.query_one("#metric-stats", DataTable)
        await ui.wait_for(pilot, lambda: stats.row_count > 30, "the metric stats")
        await pilot.pause()
        assert stats.region.bottom >= footer_top - 1 and stats.size.height > 30


async def test_compare_opens_the_key_most_selected_runs_share(db_path: Path, ui) -> None:
    steps = np.arange(10)
    for name, keys in (("a", ["aux/loss", "train/loss"]), ("b", ["train/loss", "val/acc"]),
                       ("c", ["train/loss", "val/acc"])):
        with tracker.init("p", name, db=db_path) as run:
            for key in keys:
                run.log_series(key, steps, steps * 0.5)
    app = make_app(db_path, live=False)
    async with app.run_test(size=SIZE) as pilot:
        await ui.runs_ready(pilot)
        await pilot.press("a", "c")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, CompareScreen)
                          and len(app.screen.query(LineChart)) == 1
                          and app.screen.query_one(LineChart).series_names, "the chart")
        # Not aux/loss, which only run a has (a loss, and first by name).
        chart = app.screen.query_one(LineChart)
        assert chart.title == "train/loss"
        await ui.wait_for(pilot, lambda: len(chart.series_names) == 3, "every run's curve")
        await pilot.press("v")  # the grid: shared keys first, then the rest
        await ui.wait_for(pilot, lambda: len(app.screen.query(LineChart)) == 3, "the grid")
        assert [c.title for c in app.screen.query(LineChart)] == ["train/loss", "val/acc",
                                                                 "aux/loss"]


async def test_grid_opens_on_losses_and_metrics_first(wide_configs: Path, ui) -> None:
    app = make_app(wide_configs, live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await ui.runs_ready(pilot)
        table.move_cursor(row=next(i for i, r in enumerate(table.ordered_rows)
                                   if table.get_cell(r.key, "name").plain == "run-0"))
        await pilot.press("enter")
        await ui.wait_for(pilot, lambda: isinstance(app.screen, RunScreen)
                          and len(app.screen.query(LineChart)) == 1, "a chart")
        await pilot.press("v")
        await ui.wait_for(pilot, lambda: len(app.screen.query(LineChart)) == 4, "the grid")
        titles = [c.title for c in app.screen.query(LineChart)]
        assert titles[:2] == ["train/loss", "train/acc"]
        assert not any(t.startswith("act_") for t in titles)


# -- run screen ---------------------------------------------------------------------------------
async def test_profile_shows_what_tells_rows_of_one_op_apart(db_path: Path, ui) -> None:
    with tracker.init("p", "prof", db=db_path) as run:
        run.log({"loss": 1.0})
        run.log_profile(tracker.Profile(ops=[
            tracker.ProfileOp("aten::addmm", "aten", 10, 3e6, 3e6, shapes="[[64, 784], [784, 128]]"),
            tracker.ProfileOp("aten::addmm", "aten", 10, 2e6, 2e6, shapes="[[64, 128], [128, 10]]"),
            tracker.ProfileOp("[bold]x", "aten", 1, 1e3, 1e3),
        ], name="p", framework="torch"))
    app = make_app(db_path, live=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ui.open_run(pilot, "prof")
        await pilot.press("6")
        ops = screen.query_one("#profile-ops", DataTable)
        await ui.wait_for(pilot, lambda: ops.row_count == 3, "the ops")
        labels = [str(c.label) for c in ops.columns.values()]
        assert labels[:2] == ["op", "input shapes"]
        rows = [[c.plain for c in ops.get_row_at(i)][:2] for i in range(3)]
        assert ["aten::addmm", "[[64, 784], [784, 128]]"] in rows
        assert ["aten::addmm", "[[64, 128], [128, 10]]"] in rows
        # shown literally once the tab is laid out (the table can be drawn a frame before that)
        await ui.wait_for(pilot, lambda: "[bold]x" in ui.screen_text(app), "the op's name")
        screen.query_one("#profile-filter").focus()
        await pilot.press(*"784")
        assert ops.row_count == 1


async def test_jax_stablehlo_hlo_and_costs_show_literally_in_the_graph_tab(db_path: Path,
                                                                            ui) -> None:
    import jax.numpy as jnp

    from tracker.hooks import jax as tj

    def step(params, x):
        return jnp.tanh(x @ params["w"] + params["b"]).sum()

    with tracker.init("jax", "graphs", db=db_path) as run:
        run.log({"loss": 1.0})
        graph = tj.log_graph(run, step, {"w": jnp.ones((4, 3)), "b": jnp.zeros(3)},
                             jnp.ones((2, 4)))
    assert graph is not None
    app = make_app(db_path, live=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ui.open_run(pilot, "graphs")
        await pilot.press("5")
        await ui.wait_for(pilot, lambda: "StableHLO" in ui.screen_text(app), "the views line")
        assert "v View" in ui.screen_text(app)
        raw = screen.query_one("#graph-raw", TextArea)
        await pilot.press("v")
        assert raw.display and app.focused is raw
        assert raw.text == graph.raw and "stablehlo" in raw.text
        await pilot.press("v")
        assert raw.text == graph.meta["compiled_hlo"] and "HloModule" in raw.text
        await pilot.press("v")
        assert "flops" in raw.text and "bytes accessed" in raw.text
        await pilot.press("v")  # back to the tree
        assert not raw.display and screen.query_one("#graph-tree").display


async def test_a_text_form_with_markup_is_shown_literally(db_path: Path, ui) -> None:
    with tracker.init("g", "marked", db=db_path) as run:
        run.log({"loss": 1.0})
        run.log_graph(tracker.Graph(name="m", framework="jax", source="jaxpr",
                                    raw="module @[bold red]x\x1b[2J {}", raw_format="stablehlo",
                                    meta={"cost_analysis": {"[i]flops": 12.0}}))
    app = make_app(db_path, live=False)
    async with app.run_test(size=SIZE) as pilot:
        await ui.open_run(pilot, "marked")
        await pilot.press("5")
        await ui.wait_for(pilot, lambda: "StableHLO" in ui.screen_text(app), "the views line")
        await pilot.press("v")
        await pilot.pause()
        text = ui.screen_text(app)
        assert "module @[bold red]x\ufffd[2J {}" in text and "\x1b" not in text
        await pilot.press("v")
        await pilot.pause()
        assert "[i]flops" in ui.screen_text(app) and "12" in ui.screen_text(app)


async def test_logged_markdown_is_rendered_with_a_raw_toggle(db_path: Path, ui) -> None:
    with tracker.init("t", "texts", db=db_path) as run:
        run.log({"loss": 1.0})
        run.log_text("notes", "# Results\n\nsome **bold** words and [bold red]tags[/]\x1b[2J\n"
                     "\n- first item\n\n```\nunclosed fence", step=1)
        run.log_text("notes", "## later\n\nstill *here*", step=2)
    app = make_app(db_path, live=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ui.open_run(pilot, "texts")
        await pilot.press("4")
        await ui.wait_for(pilot, lambda: len(screen.query(Markdown)) == 2, "the markdown")
        await ui.wait_for(pilot, lambda: "Results" in ui.screen_text(app), "the rendered text")
        text = ui.screen_text(app)
        assert "# Results" not in text and "**bold**" not in text  # rendered, not raw
        assert "some bold words and [bold red]tags[/]\ufffd[2J" in text  # markup stays text
        assert "• first item" in text
        assert "later" in text and "## later" not in text  # not swallowed by the open fence
        assert "r Raw/Markdown" in text
        await pilot.press("r")
        await pilot.pause()
        text = ui.screen_text(app)
        assert not screen.query(Markdown)
        assert "# Results" in text and "some **bold** words and [bold red]tags[/]" in text
        await pilot.press("r")
        await ui.wait_for(pilot, lambda: len(screen.query(Markdown)) == 2, "markdown again")
