"""Messages that thread workers post with what they read; handlers on the UI thread show it."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from ..records import RunInfo


class RunsLoaded(Message):
    """Every run, with last values (posted by the runs screen's loader)."""

    def __init__(self, runs: list[RunInfo], elapsed: float, *, missing: bool = False,
                 error: str = "") -> None:
        super().__init__()
        self.runs = runs
        self.elapsed = elapsed  # seconds the read took: the live interval adapts to it
        self.missing = missing  # no store file (yet): the app waits for the first run
        self.error = error  # the store could not be read (one line); the app keeps trying


class SparksLoaded(Message):
    """Sparkline texts of one metric for some runs."""

    def __init__(self, key: str, sparks: dict[str, str]) -> None:
        super().__init__()
        self.key = key
        self.sparks = sparks


class RunsEdited(Message):
    """An edit (rename, tags, notes, delete) reached the store."""

    def __init__(self, summary: str) -> None:
        super().__init__()
        self.summary = summary


class Loaded(Message):
    """A generic read result: ``what`` names the read, ``data`` holds it."""

    def __init__(self, what: str, data: Any, token: Any = None) -> None:
        super().__init__()
        self.what = what
        self.data = data
        self.token = token  # lets the receiver drop results it no longer wants
