"""Table cells that carry the value they sort by, and the sort keys they use."""

from __future__ import annotations

import math
from typing import Any

from rich.cells import cell_len
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from ...format import clean


class Cell(Text):
    """A table cell that carries the value it sorts by (numbers before text, missing last)."""

    sort_key: tuple
    is_header = False  # a group's header row, which sorts before the group's runs

    def __rich_measure__(self, console: Any, options: Any) -> Measurement:
        # One line, no wrapping: its width is its length. Rich's general measure splits the
        # text into words, and the table measures every cell of every run on first paint.
        width = cell_len(self.plain)
        return Measurement(width, width)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        # A one-line cell that fits needs no wrapping: its segments, right-aligned if asked.
        # Rich's general path wraps word by word; the table renders every cell in view again
        # after each sort.
        plain = self.plain
        width = cell_len(plain)
        if "\n" in plain or width > options.max_width:
            yield from super().__rich_console__(console, options)
            return
        base = console.get_style(self.style, default=Style.null()) if self.style else None
        if (self.justify or options.justify) == "right" and width < options.max_width:
            yield Segment(" " * (options.max_width - width), base)
        yield from Segment.apply_style(self.render(console, ""), base)


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


def flip(key: tuple) -> tuple:
    """A sort key that sorts the other way round (missing values stay last)."""
    return key if len(key) == 1 else (key[0], key[1], -key[2], _Reversed(key[3]))


class _Reversed(str):
    """A string that sorts backwards (descending text inside an ascending tuple sort)."""

    def __lt__(self, other: object) -> bool:
        return str.__gt__(self, other)  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        return str.__lt__(self, other)  # type: ignore[operator]
