"""Provides the text view: a run's logged texts by key, rendered as Markdown or shown raw.

Texts are data: Markdown structure (headings, lists, code) is rendered, but Rich markup in them is
never applied and terminal controls never reach the screen. Each text is its own Markdown
document, so one text's unclosed code fence cannot swallow the texts after it.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown, OptionList, Static

from ...format import clean
from ...records import TextPoint
from .keyed_view import KeyedView

MAX_SHOWN = 200  # texts drawn at once in raw mode; the newest are kept
MAX_RENDERED = 50  # texts rendered as Markdown at once (each is a few widgets)


class TextView(KeyedView):
    """Text keys on the left; the chosen key's texts with their steps on the right."""

    LIST_ID, CONTENT_ID, EMPTY = "text-keys", "text-content", "this run logged no text"
    BINDINGS = [
        Binding("r", "toggle_raw", "Raw/Markdown",
                tooltip="Show the texts raw, or rendered as Markdown"),
    ]

    class KeyChosen(KeyedView.KeyChosen):
        """The user picked a text key."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.points: list[TextPoint] = []
        self.raw = False

    def compose(self) -> ComposeResult:
        yield OptionList(id="text-keys", classes="side-list")
        with VerticalScroll(classes="text-body", id="text-body"):
            yield Static(id="text-content")
            yield Vertical(id="text-markdown")

    def show(self, key: str, points: list[TextPoint], **_: Any) -> None:
        """Show ``key``'s texts: the newest ``MAX_RENDERED`` as Markdown, or raw."""
        self.key, self.points = key, points
        self._draw()

    def action_toggle_raw(self) -> None:
        self.raw = not self.raw
        self._draw()

    def _draw(self) -> None:
        content = self.query_one("#text-content", Static)
        rendered = self.query_one("#text-markdown", Vertical)
        rendered.remove_children()
        points = self.points
        limit = MAX_SHOWN if self.raw else MAX_RENDERED
        note = Text()
        if len(points) > limit:
            note.append(f"showing the last {limit} of {len(points)}", style="dim")
            if not self.raw:
                note.append(f" (r: raw shows the last {MAX_SHOWN})", style="dim")
            note.append("\n\n")
            points = points[-limit:]
        if self.raw:
            out = note
            for point in points:
                out.append(f"step {point.step}\n", style="bold")
                out.append(clean(point.text, multiline=True) + "\n\n")
            content.update(out)
            self._scroll_to_newest()
            return
        content.update(note if note else Text("markdown · r shows it raw", style="dim"))
        widgets = []
        for point in points:
            widgets.append(Static(Text(f"step {point.step}", style="bold underline"),
                                  classes="text-step"))
            widgets.append(Markdown(clean(point.text, multiline=True), open_links=False))
        rendered.mount_all(widgets)
        self._scroll_to_newest()

    def _scroll_to_newest(self) -> None:
        """Newest last and in view, like a log: anchored to the end, so it stays there while the
        Markdown blocks lay out (they mount after this call, a frame or more later on a loaded
        machine) until the user scrolls away."""
        self.query_one("#text-body", VerticalScroll).anchor()
