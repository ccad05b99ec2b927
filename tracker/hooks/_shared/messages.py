"""An exception as the one line a notice shows: its type and the first line of its text."""

from __future__ import annotations


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of ``str(exc)``, at most ``limit`` characters ('' when it has no text)."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else ""


def describe(exc: BaseException, limit: int = 200) -> str:
    """``'ValueError: first line'``."""
    return f"{type(exc).__name__}: {first_line(exc, limit)}"
