"""Provides the runs table: one row per run, sortable and groupable cells, updated in place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from ...format import clean, duration, flatten, number, status_mark, status_style, status_text, when
from ...records import RunInfo
from .cells import Cell, cell, flip

SELECTED_MARK = "◆"
GROUP_KEY = "\x00group:"  # the row key of a group's header row starts so (never a run id)
GROUP_LABELS = {"project": "project", "group": "group"}
# Rows added before the first paint: a screenful (the terminal's height, at least this many),
# so a big store's first paint does not wait for rows nobody sees yet.
FIRST_ROWS = 50
ROWS_PER_CHUNK = 1000  # rows added per repaint after that


@dataclass(frozen=True)
class Column:
    """A column: ``kind`` is a run field, 'metric' (last value of ``arg``) or 'config' (``arg``)."""

    kind: str
    arg: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.arg}" if self.arg else self.kind

    @property
    def label(self) -> str:
        """The header as plain text: ``config.lr`` and ``metric.train/loss`` say which ``lr``
        they are (the names a filter accepts for them too)."""
        if self.arg:
            return f"{self.kind}.{clean(self.arg)}"
        return {"sel": " ", "started": "start", "duration": "time"}.get(self.kind, self.kind)

    def header(self) -> Text:
        """The header as shown: the ``config.``/``metric.`` prefix dimmed, the key bold."""
        if not self.arg:
            return Text(self.label, style="bold")
        return Text.assemble((f"{self.kind}.", "dim"), (clean(self.arg), "bold"))


# Metrics come right after the step so that they stay in view on an 80-column terminal.
LEAD_COLUMNS = [Column(k) for k in ("sel", "status", "name", "project", "step")]
TAIL_COLUMNS = [Column(k) for k in ("group", "tags", "started", "duration")]


class RunsTable(DataTable):
    """The runs, one row each, keyed by run id; cells change in place as runs go on."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open", key_display="enter", tooltip="Open the run"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("home", "scroll_top", "First row", show=False, tooltip="Go to the first row"),
        Binding("end", "scroll_bottom", "Last row", show=False, tooltip="Go to the last row"),
    ]

    class Filled(Message):
        """Every run of the last ``fill`` is in the table."""

    class SortChanged(Message):
        """The user sorted by a column (header click)."""

        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.clock = clock
        self.columns_spec: list[Column] = [*LEAD_COLUMNS, *TAIL_COLUMNS]
        self.selected: set[str] = set()
        self.sparks: dict[tuple[str, str], str] = {}  # (run id, metric) -> glyphs
        self.runs_by_id: dict[str, RunInfo] = {}
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.group_by: str | None = None  # None | "project" | "group"
        self._flat: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, RunInfo] = {}  # runs of the last fill still to be added
        self._generation = 0
        self._cursor_run: str | None = None
        self._headers: dict[str, int] = {}  # group value -> runs counted in its header row

    # -- building --------------------------------------------------------------------------------
    def set_columns(self, metrics: list[str], config: list[str]) -> None:
        """Choose the metric and config columns (rebuild with ``fill`` afterwards)."""
        self.columns_spec = [*LEAD_COLUMNS, *(Column("metric", m) for m in metrics),
                             *(Column("config", c) for c in config), *TAIL_COLUMNS]

    def fill(self, runs: list[RunInfo]) -> None:
        """Show exactly ``runs`` (a rebuild: used on first load, filter and column changes).

        The first rows go in at once and the rest in chunks after each repaint, so the screen
        is drawn and answers keys while thousands of rows are still being added.
        """
        self._cursor_run = self.cursor_row_key() or self._cursor_run
        self.clear(columns=True)
        for col in self.columns_spec:
            self.add_column(col.header(), key=col.key)
        self.runs_by_id = {}
        self._headers = {}
        self._pending = {r.id: r for r in runs}
        self._generation += 1
        self._add_pending(self._generation, max(FIRST_ROWS, self.app.size.height))

    @property
    def pending_count(self) -> int:
        """Runs of the last ``fill`` not added to the table yet."""
        return len(self._pending)

    def _add_pending(self, generation: int, count: int = ROWS_PER_CHUNK) -> None:
        if generation != self._generation:
            return  # a newer fill took over
        for run_id in list(islice(self._pending, count)):
            run = self._pending.pop(run_id)
            self.runs_by_id[run_id] = run
            self.add_row(*self.cells(run), key=run_id)
        if self._pending:
            self.call_after_refresh(self._add_pending, generation)
            return
        self.sync_group_headers()
        self.apply_sort()
        current = self._cursor_run
        if current is not None and current in self.runs_by_id:
            self.move_cursor(row=self.get_row_index(current))
        self.post_message(self.Filled())

    def update_runs(self, runs: list[RunInfo]) -> bool:
        """Update changed cells of shown runs and add ``runs`` not shown yet; True if rows came."""
        added = False
        for run in runs:
            if run.id in self._pending:  # not added yet: it goes in with its newest values
                self._pending[run.id] = run
                continue
            old = self.runs_by_id.get(run.id)
            self.runs_by_id[run.id] = run
            if old is None:
                self.add_row(*self.cells(run), key=run.id)
                added = True
                continue
            if old == run and run.status != "running":
                continue
            for col, new, was in zip(self.columns_spec, self.cells(run), self.cells(old)):
                if new.plain != was.plain or new.style != was.style:
                    self.update_cell(run.id, col.key, new)
        added = self.sync_group_headers() or added
        if added or self.sort_column is not None:
            self.apply_sort()
        return added

    def remove_runs(self, run_ids: list[str]) -> None:
        """Drop rows (deleted runs)."""
        for run_id in run_ids:
            self._pending.pop(run_id, None)
            if run_id in self.runs_by_id:
                del self.runs_by_id[run_id]
                self.remove_row(run_id)
            self.selected.discard(run_id)
        self.sync_group_headers()

    def cells(self, run: RunInfo) -> list[Cell]:
        """The row of ``run`` in the current columns."""
        flat: dict[str, Any] | None = None
        out = []
        for col in self.columns_spec:
            kind = col.kind
            if kind == "sel":
                out.append(cell(SELECTED_MARK if run.id in self.selected else " ",
                                run.id in self.selected, style="bold"))
            elif kind == "status":
                damaged = run.damaged
                out.append(cell(f"{status_mark(run.status, damaged)} "
                                f"{status_text(run.status, damaged)}", run.status,
                                style=status_style(run.status, damaged)))
            elif kind in ("project", "name", "group"):
                out.append(cell(getattr(run, kind) or ""))
            elif kind == "tags":
                out.append(cell(",".join(run.tags)))
            elif kind == "started":
                out.append(cell(when(run.started, self.clock()), run.started))
            elif kind == "duration":
                out.append(cell(duration(run.duration), run.duration, justify="right"))
            elif kind == "step":
                step = run.last_step
                out.append(cell("" if step is None else str(step), step, justify="right"))
            elif kind == "metric":
                value = run.last.get(col.arg)
                spark = self.sparks.get((run.id, col.arg), "")
                out.append(cell(f"{number(value):>9} {spark:<8}", value))
            else:
                flat = self.flat_config(run) if flat is None else flat
                value = flat.get(col.arg)
                text = "" if value is None else (number(value) if isinstance(value, float)
                                                 else str(value))
                out.append(cell(text, value if isinstance(value, (int, float)) else text))
        return out

    # -- group headers ----------------------------------------------------------------------------
    def group_value(self, run: RunInfo) -> str:
        """The value ``run`` is grouped by ('' when it has none)."""
        return str(getattr(run, self.group_by or "project") or "")

    @staticmethod
    def is_header(row_key: str) -> bool:
        """Whether a row key is a group's header row rather than a run."""
        return row_key.startswith(GROUP_KEY)

    def sync_group_headers(self) -> bool:
        """Give every group shown a header row with its run count; True if rows were added.

        Header rows sort first in their group (see ``apply_sort``); without grouping there are
        none.
        """
        if self.group_by is None or self._pending:
            return False
        counts: dict[str, int] = {}
        for run in self.runs_by_id.values():
            value = self.group_value(run)
            counts[value] = counts.get(value, 0) + 1
        added = False
        for value in [v for v in self._headers if v not in counts]:
            del self._headers[value]
            self.remove_row(GROUP_KEY + value)
        for value, count in counts.items():
            if self._headers.get(value) == count:
                continue
            cells = self._header_cells(value, count)
            if value in self._headers:
                for col, new in zip(self.columns_spec, cells):
                    if col.kind == "name":
                        self.update_cell(GROUP_KEY + value, col.key, new)
            else:
                self.add_row(*cells, key=GROUP_KEY + value)
                added = True
            self._headers[value] = count
        return added

    def _header_cells(self, value: str, count: int) -> list[Cell]:
        out = []
        for col in self.columns_spec:
            if col.kind == self.group_by:  # sorts like its runs' cells; shown dim
                piece = cell(value, style="dim")
            elif col.kind == "name":
                label = clean(value) if value else f"(no {GROUP_LABELS[self.group_by or 'project']})"
                piece = cell("")
                piece.append(f"▾ {label}", style="bold")
                piece.append(f"  {count} run{'s' if count != 1 else ''}", style="dim")
            else:
                piece = cell("")
            piece.is_header = True
            out.append(piece)
        return out

    def flat_config(self, run: RunInfo) -> dict[str, Any]:
        """A run's flattened config, computed once per run (configs do not change)."""
        flat = self._flat.get(run.id)
        if flat is None:
            flat = self._flat[run.id] = flatten(run.config)
        return flat

    def set_spark(self, run_id: str, metric: str, glyphs: str) -> None:
        """Show a sparkline beside a run's last value of ``metric``."""
        self.sparks[(run_id, metric)] = glyphs
        run = self.runs_by_id.get(run_id)
        column = Column("metric", metric)
        if run is not None and column in self.columns_spec:
            new = self.cells(run)[self.columns_spec.index(column)]
            self.update_cell(run_id, column.key, new)

    # -- selection, sorting, grouping -------------------------------------------------------------
    def cursor_row_key(self) -> str | None:
        """The run id under the cursor, or None for an empty table."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # the cursor sits outside a table that just shrank
            return None
        return None if key is None or self.is_header(key) else key

    def toggle_selected(self, run_id: str) -> None:
        """Select or unselect one run for compare / delete / export."""
        self.selected.symmetric_difference_update({run_id})
        mark = SELECTED_MARK if run_id in self.selected else " "
        self.update_cell(run_id, "sel", cell(mark, run_id in self.selected, style="bold"))

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        """Sort by a column key; the same column again flips the order."""
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column, self.sort_reverse = column, reverse
        self.apply_sort()

    def apply_sort(self) -> None:
        """Re-apply the current grouping and sort (after rows came or values changed)."""
        group = self.group_by
        # Grouped: by the group's value, then its header row before its runs, then the sort.
        columns = [group, "sel"] if group else []
        if self.sort_column:
            columns.append(self.sort_column)
        if not columns or not self.row_count or self._pending:
            return  # while rows are still coming, the last chunk sorts
        reverse = self.sort_reverse and self.sort_column is not None

        def key(values: Any) -> tuple:
            if not isinstance(values, tuple):
                values = (values,)
            last = values[-1].sort_key
            if reverse:
                last = flip(last)  # groups stay in order; missing values stay last
            if not group:
                return last
            head, sel = values[0], values[1]
            return (head.sort_key, head.plain, not sel.is_header, last if len(values) > 2 else ())

        current = self.cursor_row_key()
        self.sort(*columns, key=key)
        if current is not None:  # the cursor stays on its run, not on its row number
            self.move_cursor(row=self.get_row_index(current), scroll=False)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))
        self.post_message(self.SortChanged(str(event.column_key.value)))
