"""Provides the text view: a run's logged texts by key, shown literally, newest last."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...records import TextPoint
from ..format import clean

MAX_SHOWN = 200  # texts drawn at once; the newest are kept


class TextView(Horizontal):
    """Text keys on the left; the chosen key's texts with their steps on the right."""

    class KeyChosen(Message):
        """The user picked a text key."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def compose(self) -> ComposeResult:
        yield OptionList(id="text-keys", classes="side-list")
        with VerticalScroll(classes="text-body"):
            yield Static(id="text-content")

    def set_keys(self, keys: list[str]) -> None:
        """The text keys of the run; the first is chosen."""
        options = self.query_one("#text-keys", OptionList)
        options.clear_options()
        options.add_options([Option(Text(clean(k)), id=k) for k in keys])
        if keys:
            options.highlighted = 0
            self.post_message(self.KeyChosen(keys[0]))
        else:
            self.query_one("#text-content", Static).update(
                Text("this run logged no text", style="dim"))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.KeyChosen(event.option.id))

    def show(self, key: str, points: list[TextPoint], **_: Any) -> None:
        """Show ``key``'s texts (the newest ``MAX_SHOWN``)."""
        out = Text()
        if len(points) > MAX_SHOWN:
            out.append(f"showing the last {MAX_SHOWN} of {len(points)}\n\n", style="dim")
            points = points[-MAX_SHOWN:]
        for point in points:
            out.append(f"step {point.step}\n", style="bold")
            out.append(clean(point.text, multiline=True) + "\n\n")
        self.query_one("#text-content", Static).update(out)
