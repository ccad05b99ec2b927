"""Provides the runs screen: the table of runs, the filter box, selection, edits and live refresh."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import DataTable, Header, Input, Static

from ...errors import StoreError, StoreMissingError
from ...format import clean
from ...records import RunInfo
from ..filters import FilterError, FilterRow, Predicate, compile_filter, match_all
from ..messages import RunsLoaded, SparksLoaded
from ..reads import spark_texts
from ..widgets.footer import TrackerFooter
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


def empty_hint(loaded: RunsLoaded, path: Path, explicit: bool, live: bool) -> Text:
    """What the runs screen says while the store has no run: where it looks, how to log one."""
    where = clean(str(path))
    text = Text()
    if loaded.error:
        text.append(f"Cannot read {where}: {clean(loaded.error)}\n", style="bold red")
    elif loaded.missing:
        text.append(f"No store at {where} yet: it appears with the first run.\n", style="bold")
    else:
        text.append(f"No runs in {where} yet.\n", style="bold")
    db_arg = f", db={str(path)!r}" if explicit else ""
    text.append("\nLog a first run from Python:\n\n")
    text.append(clean(f"    import tracker\n"
                      f"    run = tracker.init(\"my-project\", config={{\"lr\": 1e-3}}{db_arg})\n"
                      f"    run.log({{\"train/loss\": 0.5}}, step=0)\n"
                      f"    run.finish()\n", multiline=True), style="bold")
    text.append("\nor write a small demo store: ")
    text.append(f"python -m tracker.demo {where}\n", style="bold")
    if live:
        text.append("\nRuns show up here as they are logged.", style="dim")
    else:
        text.append("\nLive refresh is off: open the app again to see new runs.", style="dim")
    return text


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while the run list is built: 10,000 runs are ~100k new
    objects without cycles (reference counting frees them), and the collections they would set
    off walk them again and again, a third of the list's build time."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:  # a pause that began during another one found it off, and leaves it to that one
            gc.enable()


def live_interval(elapsed: float) -> float:
    """Seconds until the next run-list reload, after a read that took ``elapsed`` seconds."""
    adaptive = 10 * elapsed  # reloads take <10% of a core, however big the store
    return min(LIVE_MAX_INTERVAL, max(LIVE_MIN_INTERVAL, adaptive))


class RunsScreen(RunEditsMixin, BaseScreen):
    """Every run in the store; the starting screen."""

    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("slash", "focus_filter", "Filter", key_display="/",
                tooltip="Filter the runs (enter applies, escape leaves the box)"),
        Binding("space", "toggle_select", "Select ↓",
                tooltip="Select or unselect the run, then move to the next row"),
        Binding("c", "compare", "Compare", tooltip="Compare the selected runs (or this one)"),
        Binding("s", "sort_next", "Sort", tooltip="Sort by the next column (or click a header)"),
        Binding("S", "sort_reverse", "Reverse", show=False, tooltip="Reverse the sort"),
        Binding("g", "group", "Group",
                tooltip="Group the rows by project, then by group, then not at all"),
        Binding("m", "columns", "Columns", tooltip="Choose the metric and config columns"),
        Binding("r", "rename", "Rename", tooltip="Rename the run"),
        Binding("t", "tags", "Tags", tooltip="Set the tags of the selected runs"),
        Binding("n", "notes", "Note", tooltip="Set the note of the selected runs"),
        Binding("d,delete", "delete", "Delete", tooltip="Delete the selected runs (asks first)"),
        Binding("x", "export", "Export", tooltip="Export the selected runs to TensorBoard"),
        Binding("a", "select_all", "Select all", show=False,
                tooltip="Select every run the filter shows"),
        Binding("escape", "clear_selection", "Clear selection", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.all_runs: list[RunInfo] = []
        self.predicate: Predicate = match_all
        self.filter_error = ""
        self.filter_error_at: int | None = None
        self.store_error = ""  # the last reload failed with this (the table shows older data)
        self.loaded = False
        self._columns_from_runs = False  # default columns chosen from real runs (not none yet)
        self._filter_timer: Timer | None = None
        self._live_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: text · tag:baseline · lr < 1e-3 and status == finished",
                    id="filter")
        yield RunsTable(self.tracker.clock, id="runs")
        yield Static(id="runs-empty")
        yield Static(id="runs-status")
        yield TrackerFooter()

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
        path = self.tracker.db_path
        # The app never creates a store: no file (or a 0-byte one) means no runs yet, and the
        # live reload looks again. Opening it here would be a write.
        is_file = isinstance(path, Path)  # else a server URL: no file to look at
        try:
            empty = is_file and path.stat().st_size == 0
        except FileNotFoundError:
            self.post_message(RunsLoaded([], 0.0, missing=True))
            return
        except OSError as exc:
            self.post_message(RunsLoaded([], 0.0, error=exc.strerror or str(exc)))
            return
        if empty:
            self.post_message(RunsLoaded([], 0.0))
            return
        try:
            with self.tracker.open_store() as store, collector_paused():
                runs = store.runs()
        except StoreError as exc:  # removed since, or not (yet) a store: say so, keep looking
            missing = not path.exists() if is_file else isinstance(exc, StoreMissingError)
            self.post_message(RunsLoaded([], 0.0, missing=missing,
                                         error="" if missing else one_line(exc)))
            return
        self.post_message(RunsLoaded(runs, time.perf_counter() - started))

    @work(thread=True, exclusive=True, group="sparks", exit_on_error=False)
    def load_sparks(self, wanted: dict[str, list[str]]) -> None:
        with self.tracker.open_store() as store:
            for metric, run_ids in wanted.items():
                self.post_message(SparksLoaded(metric, spark_texts(store, run_ids, metric)))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        table = self.table
        if message.error and self._columns_from_runs:
            # A store that had runs failed one read (locked, being replaced): keep what is
            # shown, say why it is not updating, and try again.
            self.store_error = message.error
            self.show_status()
            self._schedule_reload(message.elapsed)
            return
        self.store_error = ""
        self.all_runs = message.runs
        if self.loaded and self.app.screen is not self:
            self._live_timer = None  # shown again, it reloads (see on_screen_resume)
            return
        self._show_empty_state(message)
        if not self.loaded or (message.runs and not self._columns_from_runs):
            # The first load, or the first runs of a store that had none: choose the columns.
            first = not self.loaded
            self.loaded = True
            self._columns_from_runs = bool(message.runs)
            table.loading = False
            table.set_columns(*default_columns(message.runs))
            table.fill(self.filtered(message.runs))
            if message.runs and (first or self.focused is None):
                table.focus()
            elif first:
                self.set_focus(None)  # nothing to browse: keys go to the screen, not the filter
        else:
            shown = self.filtered(message.runs)
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

    def _show_empty_state(self, message: RunsLoaded) -> None:
        hint = self.query_one("#runs-empty", Static)
        empty = not message.runs
        hint.display = empty
        self.table.display = not empty
        if empty:
            hint.update(empty_hint(message, self.tracker.db_path, self.tracker.db_given,
                                   self.tracker.live))

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
            if run is None:  # a group's header row
                continue
            live = refresh_running and run.status == "running"
            for metric in metrics:
                if live or (run_id, metric) not in table.sparks:
                    wanted.setdefault(metric, []).append(run_id)
        if wanted:
            self.load_sparks(wanted)

    # -- filtering --------------------------------------------------------------------------------
    def filtered(self, runs: list[RunInfo]) -> list[RunInfo]:
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
            self.notify(self.filter_error, severity="error", markup=False)
            box = self.query_one("#filter", Input)  # the cursor goes where the problem is
            at = self.filter_error_at
            box.cursor_position = len(box.value) if at is None else at
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
            self.filter_error_at = exc.position
            self.query_one("#filter", Input).add_class("-invalid")
            self.show_status()
            return
        self.query_one("#filter", Input).remove_class("-invalid")
        if self.loaded:
            self.table.fill(self.filtered(self.all_runs))
            self.request_sparks()
        self.show_status()

    def show_status(self) -> None:
        table = self.table
        parts = [f"{len(table.runs_by_id) + table.pending_count} of {len(self.all_runs)} runs"]
        if table.pending_count:
            parts.append(f"adding {table.pending_count}…")
        if table.selected:
            parts.append(f"{len(table.selected)} selected")
        if table.sort_column:
            label = next((c.label for c in table.columns_spec if c.key == table.sort_column),
                         table.sort_column)
            parts.append(f"sorted by {label} {'↓' if table.sort_reverse else '↑'}")
        if table.group_by:
            parts.append(f"grouped by {table.group_by}")
        if self.tracker.live:
            parts.append("live")
        text = Text(" · ".join(parts))
        if self.store_error:
            text.append(f"   not updating: {clean(self.store_error)}", style="bold red")
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
        key = str(event.row_key.value)
        if key in self.table.runs_by_id:  # not a group's header row
            self.open_run(key)

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
        table.fill(self.filtered(self.all_runs))
        self.show_status()

    def action_columns(self) -> None:
        table = self.table

        def chosen(result: tuple[list[str], list[str]] | None) -> None:
            if result is not None:
                table.set_columns(*result)
                table.fill(self.filtered(self.all_runs))
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
