"""Provides the profile view: the top-ops table (sortable, filterable) and a step-time summary."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Static

from ...format import clean, count, nanos, nbytes
from ...profile import Profile, ProfileOp
from .cells import Cell, cell

# (column key, label, value of an op, formatter)
COLUMNS: list[tuple[str, str, Any, Any]] = [
    ("name", "op", lambda o: o.name, clean),
    # What tells apart rows of the same op: torch's input shapes, XLA's HLO module. Shown only
    # when the profile has them.
    ("shapes", "input shapes", lambda o: o.shapes, clean),
    ("module", "module", lambda o: o.module, clean),
    ("category", "kind", lambda o: o.category, clean),
    ("calls", "calls", lambda o: o.calls, lambda v: str(v)),
    ("self_ns", "self", lambda o: o.self_ns, nanos),
    ("total_ns", "total", lambda o: o.total_ns, nanos),
    ("device_self_ns", "dev self", lambda o: o.device_self_ns, nanos),
    ("device_total_ns", "dev total", lambda o: o.device_total_ns, nanos),
    ("cpu_mem", "cpu mem", lambda o: o.cpu_mem, nbytes),
    ("device_mem", "dev mem", lambda o: o.device_mem, nbytes),
    ("flops", "flops", lambda o: o.flops, lambda v: "" if v is None else count(v)),
]
TEXT_COLUMNS = ("name", "shapes", "module", "category")
OPTIONAL = ("shapes", "module")
MAX_TEXT_WIDTH = 48  # a long shape list is cut here (the filter still searches all of it)
SORTABLE = [c[0] for c in COLUMNS if c[0] not in TEXT_COLUMNS]


def step_summary(profile: Profile) -> Text:
    """Step count, mean, median, p90, min and max step time, and the capture's span."""
    text = Text(clean(f"{profile.name} ({profile.framework})"), style="bold")
    if profile.step_from is not None:
        text.append(f"  steps {profile.step_from}..{profile.step_to}")
    if profile.duration_ns:
        text.append(f"  span {nanos(profile.duration_ns)}")
    times = np.array([d for _, d in profile.step_times_ns], dtype=np.float64)
    if times.size:
        text.append(f"  · {times.size} steps: mean {nanos(times.mean())}, median "
                    f"{nanos(float(np.median(times)))}, p90 {nanos(float(np.percentile(times, 90)))}"
                    f", min {nanos(times.min())}, max {nanos(times.max())}")
    text.append(f"  · {len(profile.ops)} ops")
    return text


class ProfileView(Vertical):
    """One profile: summary line, op filter and the top-ops table."""

    BINDINGS = [
        Binding("o", "sort_next", "Sort ops"),
        Binding("O", "sort_reverse", "Reverse", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.profile: Profile | None = None
        self.sort_column = "self_ns"
        self.reverse = True

    def compose(self) -> ComposeResult:
        yield Static(id="profile-summary", classes="status-line")
        yield Input(placeholder="filter ops by name or shapes", classes="search",
                    id="profile-filter")
        table: DataTable[Any] = DataTable(cursor_type="row", zebra_stripes=True, id="profile-ops")
        yield table

    def show(self, profile: Profile | None, note: str = "") -> None:
        """Show ``profile`` (None: show ``note``)."""
        self.profile = profile
        summary = self.query_one("#profile-summary", Static)
        summary.update(step_summary(profile) if profile else Text(
            note or "this run has no profile", style="dim"))
        self._fill()

    @on(Input.Changed, "#profile-filter")
    def _filter(self, event: Input.Changed) -> None:
        self._fill()

    def columns(self) -> list[tuple[str, str, Any, Any]]:
        """The columns this profile fills (input shapes and module only when it has them)."""
        ops = self.profile.ops if self.profile is not None else []
        return [c for c in COLUMNS
                if c[0] not in OPTIONAL or any(c[2](op) for op in ops)]

    def _fill(self) -> None:
        table = self.query_one("#profile-ops", DataTable)
        table.clear(columns=True)
        columns = self.columns()
        for key, label, get, fmt in columns:
            mark = (" ↓" if self.reverse else " ↑") if key == self.sort_column else ""
            width = None
            # Text columns get a width from their content up front: a DataTable's auto width
            # is measured later, and a table drawn before that showed 'aten::addmm' as 'at'.
            if key in TEXT_COLUMNS and self.profile is not None and self.profile.ops:
                widest = max(len(fmt(get(o) or "")) for o in self.profile.ops)
                width = max(len(label + mark), min(MAX_TEXT_WIDTH, widest))
            table.add_column(Text(label + mark, style="bold"), key=key, width=width)
        if self.profile is None:
            return
        needle = self.query_one("#profile-filter", Input).value.strip().lower()
        ops = [o for o in self.profile.ops
               if needle in o.name.lower() or needle in (o.shapes or "").lower()
               or needle in (o.module or "").lower()]
        for op in ops:
            table.add_row(*self._cells(op, columns))
        missing = (-1,) if self.reverse else (1,)  # ops without a value go last either way
        table.sort(self.sort_column, reverse=self.reverse,
                   key=lambda c: c.sort_key if len(c.sort_key) > 1 else missing)

    @staticmethod
    def _cells(op: ProfileOp, columns: list[tuple[str, str, Any, Any]]) -> list[Cell]:
        out = []
        for key, _, get, fmt in columns:
            value = get(op)
            justify = None if key in TEXT_COLUMNS else "right"
            out.append(cell("" if value is None else fmt(value), value, justify=justify))
        return out

    def sort_by(self, column: str) -> None:
        """Sort the ops by a column (largest first; the same column again flips it)."""
        self.reverse = not self.reverse if column == self.sort_column else True
        self.sort_column = column
        self._fill()

    def action_sort_next(self) -> None:
        index = SORTABLE.index(self.sort_column) if self.sort_column in SORTABLE else -1
        self.sort_column, self.reverse = SORTABLE[(index + 1) % len(SORTABLE)], True
        self._fill()

    def action_sort_reverse(self) -> None:
        self.reverse = not self.reverse
        self._fill()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))
