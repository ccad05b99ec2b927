"""Provides KeyedView: a run's keys of one kind on the left, the chosen key's content on the right.

The histogram and text tabs are both this shape; each subclass says how to draw a key's points.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...format import clean


class KeyedView(Horizontal):
    """A key list (``#<LIST_ID>``) and a content area (``#<CONTENT_ID>``)."""

    LIST_ID: ClassVar[str]
    CONTENT_ID: ClassVar[str]
    EMPTY: ClassVar[str]  # shown when the run logged no key of this kind

    class KeyChosen(Message):
        """The user picked a key (subclasses re-declare it so each gets its own handler name)."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key = ""

    def set_keys(self, keys: list[str]) -> None:
        """The run's keys of this kind; the first is chosen."""
        options = self.query_one(f"#{self.LIST_ID}", OptionList)
        options.clear_options()
        options.add_options([Option(Text(clean(k)), id=k) for k in keys])
        if keys:
            options.highlighted = 0
            self.post_message(self.KeyChosen(keys[0]))
        else:
            self.query_one(f"#{self.CONTENT_ID}", Static).update(Text(self.EMPTY, style="dim"))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id and event.option.id != self.key:
            self.post_message(self.KeyChosen(event.option.id))
