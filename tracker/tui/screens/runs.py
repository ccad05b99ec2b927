"""Provides the runs screen: the table of runs, the filter box, selection, edits and live refresh."""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static

from ...records import RunInfo
from ..filters import FilterError, FilterRow, Predicate, compile_filter, match_all
from ..loader import spark_texts
from ..messages import RunsLoaded, SparksLoaded
from ..widgets.runs_table import RunsTable
from .base import BaseScreen, one_line
from .columns import ColumnsScreen, default_columns
from .run_edits import RunEditsMixin

LIVE_MIN_INTERVAL = 1.0  # seconds between run-list reloads; more when a reload is slow
# The read time the interval adapts to is wall time on a worker thread, so one stall of a busy
# machine (waiting for the GIL or a CPU) inflates it: 3 s of stall would stop live updates for
# 30 s. The cap bounds what a stall costs; only a store whose reads really take over 1 s gives
# up the 10%-of-a-core budget, and on such a store a list 10 s old is stale enough already.
LIVE_MAX_INTERVAL = 10.0
FILTER_DEBOUNCE = 0.3  # seconds without a keystroke before the typed filter applies by itself
GROUPS = (None, "project", "group")


def live_interval(elapsed: float) -> float:
    """Seconds until the next run-list reload, after a read that took ``elapsed`` seconds."""
    adaptive = 10 * elapsed  # reloads take <10% of a core, however big the store
    return min(LIVE_MAX_INTERVAL, max(LIVE_MIN_INTERVAL, adaptive))


class RunsScreen(RunEditsMixin, BaseScreen):
    """Every run in the store; the starting screen."""

    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("slash", "focus_filter", "Filter", key_display="/"),
        Binding("space", "toggle_select", "Select"),
        Binding("c", "compare", "Compare"),
        Binding("s", "sort_next", "Sort"),
        Binding("S", "sort_reverse", "Reverse", show=False),
        Binding("g", "group", "Group"),
        Binding("m", "columns", "Columns"),
        Binding("r", "rename", "Rename"),
        Binding("t", "tags", "Tags"),
        Binding("n", "notes", "Note"),
        Binding("d,delete", "delete", "Delete"),
        Binding("x", "export", "Export"),
        Binding("a", "select_all", "Select all", show=False),
        Binding("escape", "clear_selection", "Clear selection", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.all_runs: list[RunInfo] = []
        self.predicate: Predicate = match_all
        self.filter_error = ""
        self.loaded = False
        self._filter_timer: Timer | None = None
        self._live_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: text · tag:baseline · lr < 1e-3 and status == finished",
                    id="filter")
        yield RunsTable(self.tracker.clock, id="runs")
        yield Static(id="runs-status")
        yield Footer()

    @property
    def table(self) -> RunsTable:
        return self.query_one(RunsTable)

    def on_mount(self) -> None:
        self.table.loading = True
        self.load_runs()
        self.watch(self.table, "scroll_y", lambda _: self.request_sparks(), init=False)

    # -- reading ----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="runs", exit_on_error=False)
    def load_runs(self) -> None:
        started = time.perf_counter()
        with self.tracker.open_store() as store:
            runs = store.runs()
        self.post_message(RunsLoaded(runs, time.perf_counter() - started))

    @work(thread=True, exclusive=True, group="sparks", exit_on_error=False)
    def load_sparks(self, wanted: dict[str, list[str]]) -> None:
        with self.tracker.open_store() as store:
            for metric, run_ids in wanted.items():
                self.post_message(SparksLoaded(metric, spark_texts(store, run_ids, metric)))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        table = self.table
        self.all_runs = message.runs
        if self.loaded and self.app.screen is not self:
            self._live_timer = None  # shown again, it reloads (see on_screen_resume)
            return
        if not self.loaded:
            self.loaded = True
            table.loading = False
            table.set_columns(*default_columns(message.runs))
            table.fill(self.visible(message.runs))
            table.focus()
        else:
            shown = self.visible(message.runs)
            keep = {r.id for r in shown}
            table.remove_runs([i for i in table.runs_by_id if i not in keep])
            table.update_runs(shown)
        self.request_sparks(refresh_running=True)
        self.show_status()
        self._schedule_reload(message.elapsed)

    def _schedule_reload(self, elapsed: float) -> None:
        # Under another screen the table stays as it is: a background screen's repaint would
        # repaint the whole screen on top. It catches up when it is shown again.
        if self.tracker.live and self.app.screen is self:
            self._live_timer = self.set_timer(live_interval(elapsed), self.load_runs)
        else:
            self._live_timer = None

    def on_screen_resume(self) -> None:
        if self.loaded and self.tracker.live and self._live_timer is None:
            self.load_runs()

    def on_runs_table_filled(self, event: RunsTable.Filled) -> None:
        self.show_status()

    def on_sparks_loaded(self, message: SparksLoaded) -> None:
        for run_id, glyphs in message.sparks.items():
            self.table.set_spark(run_id, message.key, glyphs)

    def request_sparks(self, refresh_running: bool = False) -> None:
        """Read sparklines for the rows in view that have none yet (and running ones)."""
        table = self.table
        metrics = [c.arg for c in table.columns_spec if c.kind == "metric"]
        if not metrics or not table.row_count:
            return
        top = int(table.scroll_y)
        rows = table.ordered_rows[top: top + table.size.height + 10]
        wanted: dict[str, list[str]] = {}
        for row in rows:
            run_id = str(row.key.value)
            run = table.runs_by_id.get(run_id)
            live = refresh_running and run is not None and run.status == "running"
            for metric in metrics:
                if live or (run_id, metric) not in table.sparks:
                    wanted.setdefault(metric, []).append(run_id)
        if wanted:
            self.load_sparks(wanted)

    # -- filtering --------------------------------------------------------------------------------
    def visible(self, runs: list[RunInfo]) -> list[RunInfo]:
        """The runs that pass the filter."""
        pred = self.predicate
        if pred is match_all:
            return list(runs)
        flat = self.table.flat_config
        return [r for r in runs if pred(FilterRow.of(r, flat(r)))]

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self._cancel_filter_timer()
        # Rebuilding thousands of rows per keystroke would lag: wait for a pause in typing.
        self._filter_timer = self.set_timer(FILTER_DEBOUNCE, self.apply_filter)

    @on(Input.Submitted, "#filter")
    def filter_submitted(self, event: Input.Submitted) -> None:
        # Enter applies the filter now and is final: the last keystroke's pending timer would
        # only rebuild the whole table a second time, after the user has moved on.
        self._cancel_filter_timer()
        self.apply_filter()
        if self.filter_error:
            self.notify(self.filter_error, severity="error")
        else:
            self.table.focus()

    def _cancel_filter_timer(self) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._filter_timer = None

    def apply_filter(self) -> None:
        source = self.query_one("#filter", Input).value
        try:
            self.predicate = compile_filter(source)
            self.filter_error = ""
        except FilterError as exc:
            self.filter_error = one_line(exc)
            self.query_one("#filter", Input).add_class("-invalid")
            self.show_status()
            return
        self.query_one("#filter", Input).remove_class("-invalid")
        if self.loaded:
            self.table.fill(self.visible(self.all_runs))
            self.request_sparks()
        self.show_status()

    def show_status(self) -> None:
        table = self.table
        parts = [f"{table.row_count + table.pending_count} of {len(self.all_runs)} runs"]
        if table.pending_count:
            parts.append(f"adding {table.pending_count}…")
        if table.selected:
            parts.append(f"{len(table.selected)} selected")
        if table.sort_column:
            parts.append(f"sorted by {table.sort_column} {'↓' if table.sort_reverse else '↑'}")
        if table.group_by:
            parts.append(f"grouped by {table.group_by}")
        if self.tracker.live:
            parts.append("live")
        text = Text(" · ".join(parts))
        if self.filter_error:
            text.append("   " + self.filter_error, style="bold red")
        self.query_one("#runs-status", Static).update(text)

    # -- actions ----------------------------------------------------------------------------------
    def targets(self) -> list[str]:
        """The selected runs, else the run under the cursor."""
        table = self.table
        if table.selected:
            shown = [str(row.key.value) for row in table.ordered_rows]
            return [r for r in shown if r in table.selected]  # in the order on screen
        key = table.cursor_row_key()
        return [key] if key else []

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_run(str(event.row_key.value))

    def open_run(self, run_id: str) -> None:
        from .run import RunScreen

        self.app.push_screen(RunScreen(run_id, self.table.runs_by_id.get(run_id)))

    def action_open(self) -> None:
        key = self.table.cursor_row_key()
        if key:
            self.open_run(key)

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_toggle_select(self) -> None:
        key = self.table.cursor_row_key()
        if key:
            self.table.toggle_selected(key)
            self.table.action_cursor_down()
            self.show_status()

    def action_select_all(self) -> None:
        for run_id in self.table.runs_by_id:
            if run_id not in self.table.selected:
                self.table.toggle_selected(run_id)
        self.show_status()

    def action_clear_selection(self) -> None:
        if self.focused is self.query_one("#filter"):
            self.table.focus()
            return
        for run_id in list(self.table.selected):
            self.table.toggle_selected(run_id)
        self.show_status()

    def action_compare(self) -> None:
        from .compare import CompareScreen

        ids = self.targets()
        if not ids:
            self.notify("no run to compare: select runs with space first", severity="warning")
            return
        self.app.push_screen(CompareScreen([self.table.runs_by_id[i] for i in ids]))

    def action_sort_next(self) -> None:
        keys = [c.key for c in self.table.columns_spec if c.kind != "sel"]
        current = self.table.sort_column
        nxt = keys[(keys.index(current) + 1) % len(keys)] if current in keys else keys[0]
        self.table.sort_by(nxt, reverse=False)
        self.show_status()

    def action_sort_reverse(self) -> None:
        if self.table.sort_column:
            self.table.sort_by(self.table.sort_column, reverse=not self.table.sort_reverse)
            self.show_status()

    def on_runs_table_sort_changed(self, event: RunsTable.SortChanged) -> None:
        self.show_status()

    def action_group(self) -> None:
        table = self.table
        table.group_by = GROUPS[(GROUPS.index(table.group_by) + 1) % len(GROUPS)]
        table.fill(self.visible(self.all_runs))
        self.show_status()

    def action_columns(self) -> None:
        table = self.table

        def chosen(result: tuple[list[str], list[str]] | None) -> None:
            if result is not None:
                table.set_columns(*result)
                table.fill(self.visible(self.all_runs))
                self.request_sparks()

        current = ([c.arg for c in table.columns_spec if c.kind == "metric"],
                   [c.arg for c in table.columns_spec if c.kind == "config"])
        self.app.push_screen(ColumnsScreen(self.all_runs, *current), chosen)

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Screen actions offered in the command palette."""
        for title, help_text, action in (
            ("Compare selected runs", "Overlay curves and diff configs", self.action_compare),
            ("Group runs", "Cycle grouping: none, project, group", self.action_group),
            ("Choose columns", "Pick metric and config columns", self.action_columns),
            ("Delete runs", "Delete the selected runs (asks first)", self.action_delete),
            ("Export to TensorBoard", "Write the selected runs to a TensorBoard logdir",
             self.action_export),
            ("Select all shown runs", "Select every run that passes the filter",
             self.action_select_all),
        ):
            yield SystemCommand(title, help_text, action)
