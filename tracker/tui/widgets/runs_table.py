"""Provides the runs table: one row per run, sortable and groupable cells, updated in place."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from ...config import flatten
from ...records import RunInfo
from ..format import clean, duration, number, when

STATUS_STYLE = {"running": "bold green", "finished": "", "failed": "red", "crashed": "bold red",
                "killed": "yellow"}
STATUS_MARK = {"running": "●", "finished": "✓", "failed": "✗", "crashed": "✗", "killed": "■"}
SELECTED_MARK = "◆"


class Cell(Text):
    """A table cell that carries the value it sorts by (numbers before text, missing last)."""

    sort_key: tuple


def cell(text: str, sort: Any = None, style: str = "", justify: str | None = None) -> Cell:
    out = Cell(clean(text), style=style, justify=justify)  # type: ignore[arg-type]
    out.sort_key = _sort_key(text if sort is None else sort)
    return out


def _sort_key(value: Any) -> tuple:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return (1,)
    if isinstance(value, (int, float)):
        return (0, 0, float(value), "")
    return (0, 1, 0.0, str(value).lower())


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
        return clean(self.arg) if self.arg else {"sel": " ", "started": "start",
                                                 "duration": "time"}.get(self.kind, self.kind)


BASE_COLUMNS = [Column(k) for k in
                ("sel", "status", "project", "name", "group", "tags", "started", "duration", "step")]


class RunsTable(DataTable):
    """The runs, one row each, keyed by run id; cells change in place as runs go on."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    class SortChanged(Message):
        """The user sorted by a column (header click)."""

        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.clock = clock
        self.columns_spec: list[Column] = list(BASE_COLUMNS)
        self.selected: set[str] = set()
        self.sparks: dict[tuple[str, str], str] = {}  # (run id, metric) -> glyphs
        self.runs_by_id: dict[str, RunInfo] = {}
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.group_by: str | None = None  # None | "project" | "group"

    # -- building --------------------------------------------------------------------------------
    def set_columns(self, metrics: list[str], config: list[str]) -> None:
        """Choose the metric and config columns (rebuild with ``fill`` afterwards)."""
        self.columns_spec = [*BASE_COLUMNS, *(Column("metric", m) for m in metrics),
                             *(Column("config", c) for c in config)]

    def fill(self, runs: list[RunInfo]) -> None:
        """Show exactly ``runs`` (a rebuild: used on first load, filter and column changes)."""
        current = self.cursor_row_key()
        self.clear(columns=True)
        for col in self.columns_spec:
            self.add_column(Text(col.label, style="bold"), key=col.key)
        self.runs_by_id = {r.id: r for r in runs}
        for run in runs:
            self.add_row(*self.cells(run), key=run.id)
        self.apply_sort()
        if current is not None and current in self.runs_by_id:
            self.move_cursor(row=self.get_row_index(current))

    def update_runs(self, runs: list[RunInfo]) -> bool:
        """Update changed cells of shown runs and add ``runs`` not shown yet; True if rows came."""
        added = False
        for run in runs:
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
        if added or self.sort_column is not None:
            self.apply_sort()
        return added

    def remove_runs(self, run_ids: list[str]) -> None:
        """Drop rows (deleted runs)."""
        for run_id in run_ids:
            if run_id in self.runs_by_id:
                del self.runs_by_id[run_id]
                self.remove_row(run_id)
            self.selected.discard(run_id)

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
                out.append(cell(f"{STATUS_MARK.get(run.status, '?')} {run.status}", run.status,
                                style=STATUS_STYLE.get(run.status, "")))
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
                flat = flatten(run.config) if flat is None else flat
                value = flat.get(col.arg)
                text = "" if value is None else (number(value) if isinstance(value, float)
                                                 else str(value))
                out.append(cell(text, value if isinstance(value, (int, float)) else text))
        return out

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
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # the cursor sits outside a table that just shrank
            return None

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
        columns = [c for c in (self.group_by, self.sort_column) if c]
        if not columns or not self.row_count:
            return
        group = self.group_by

        def key(values: Any) -> tuple:
            if not isinstance(values, tuple):
                values = (values,)
            keys = [v.sort_key for v in values]
            if self.sort_reverse and self.sort_column:
                keys[-1] = _flip(keys[-1])  # groups stay in order; missing values stay last
            return tuple(keys) if group else keys[0]

        current = self.cursor_row_key()
        self.sort(*columns, key=key)
        if current is not None:  # the cursor stays on its run, not on its row number
            self.move_cursor(row=self.get_row_index(current), scroll=False)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))
        self.post_message(self.SortChanged(str(event.column_key.value)))


def _flip(key: tuple) -> tuple:
    return key if len(key) == 1 else (key[0], key[1], -key[2], _Reversed(key[3]))


class _Reversed(str):
    """A string that sorts backwards (descending text inside an ascending tuple sort)."""

    def __lt__(self, other: object) -> bool:
        return str.__gt__(self, other)  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        return str.__lt__(self, other)  # type: ignore[operator]
