"""Provides the text view: a run's logged texts by key, shown literally, newest last."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import OptionList, Static

from ...records import TextPoint
from ..format import clean
from .keyed_view import KeyedView

MAX_SHOWN = 200  # texts drawn at once; the newest are kept


class TextView(KeyedView):
    """Text keys on the left; the chosen key's texts with their steps on the right."""

    LIST_ID, CONTENT_ID, EMPTY = "text-keys", "text-content", "this run logged no text"

    class KeyChosen(KeyedView.KeyChosen):
        """The user picked a text key."""

    def compose(self) -> ComposeResult:
        yield OptionList(id="text-keys", classes="side-list")
        with VerticalScroll(classes="text-body"):
            yield Static(id="text-content")

    def show(self, key: str, points: list[TextPoint], **_: Any) -> None:
        """Show ``key``'s texts (the newest ``MAX_SHOWN``)."""
        self.key = key
        out = Text()
        if len(points) > MAX_SHOWN:
            out.append(f"showing the last {MAX_SHOWN} of {len(points)}\n\n", style="dim")
            points = points[-MAX_SHOWN:]
        for point in points:
            out.append(f"step {point.step}\n", style="bold")
            out.append(clean(point.text, multiline=True) + "\n\n")
        self.query_one("#text-content", Static).update(out)
