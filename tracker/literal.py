"""Text that came from data (run names, tags, keys, notes, file names) made safe to print as is."""

from __future__ import annotations

REPLACEMENT = "\ufffd"  # what the app shows for a control character too
NEWLINE = "\u23ce"  # ⏎: a line break inside one line of output


def shown(text: object, *, multiline: bool = False) -> str:
    """``text`` with every character a terminal would act on (ESC and the other C0/C1 controls,
    DEL, bidi overrides and other invisible format characters, line and paragraph separators)
    replaced by a visible mark, so that escape sequences are printed, never obeyed.

    A newline becomes ⏎ so that the text stays on one line, unless ``multiline``.
    """
    text = "" if text is None else str(text)
    if text.isprintable():  # the common case, checked in C
        return text
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        elif char == "\n":
            out.append("\n" if multiline else NEWLINE)
        else:
            out.append(REPLACEMENT)
    return "".join(out)
