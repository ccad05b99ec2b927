"""A stored console line made safe to show: colour and cursor escapes dropped, tabs expanded, any
other control character shown as a mark (tracker.literal.shown), so data never drives a terminal."""

from __future__ import annotations

import re

from .literal import shown

# CSI (colours, erase line, cursor moves), OSC (titles, hyperlinks; ended by BEL or ST) and the
# two-character escapes: what programs print to style a terminal, not text a reader wants.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def display_line(text: str) -> str:
    """``text`` as the CLI and the app print it: one line, nothing a terminal would act on."""
    if text.isprintable():
        return text
    return shown(_ESCAPES.sub("", text).expandtabs(8))
