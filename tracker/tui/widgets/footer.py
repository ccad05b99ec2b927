"""Provides the footer: the keys of the focused widget and the screen, with help and quit pinned.

Textual's footer lists the focused widget's keys first and the app's last, so on an 80-column
terminal `? Help` and `q Quit` fell off the end. Here they come first and always show.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PINNED = ("help", "quit")  # actions whose keys lead the footer


class TrackerFooter(Footer):
    """A footer whose help and quit keys lead, so a narrow terminal never hides them."""

    def compose(self) -> Iterable[Widget]:
        keys = list(super().compose())
        pinned = [k for k in keys if isinstance(k, FooterKey) and k.action in PINNED]
        pinned.sort(key=lambda k: PINNED.index(k.action))
        yield from pinned
        yield from (k for k in keys if k not in pinned)
