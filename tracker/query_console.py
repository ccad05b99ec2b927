"""Reads of a run's captured console lines (a part of ``Store``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .records import LoggedLine
from .store import describe_error
from .store.console_sql import STREAMS, first_seq_at_step, read_lines


__all__ = ["ConsoleReads", "LoggedLine"]


class ConsoleReads:
    """Console line reads; mixed into ``Store``."""

    conn: sqlite3.Connection
    path: Path

    def console_lines(
        self,
        run_id: str,
        *,
        after: int | None = None,
        stream: str | None = None,
        grep: str | None = None,
        since_step: int | None = None,
        limit: int | None = None,
        last: bool = False,
    ) -> list[LoggedLine]:
        """A run's console lines in the order they were printed.

        ``after``: only lines with a larger ``seq`` (a follower's position); ``stream``: 'stdout'
        or 'stderr'; ``grep``: lines that contain this text (case-sensitive, literal);
        ``since_step``: lines printed at that step or later; ``limit``: the first that many,
        or with ``last=True`` the last that many.
        """
        if stream is not None and stream not in STREAMS:
            raise ValueError(f"stream must be 'stdout' or 'stderr', not {stream!r}")
        try:
            rows = read_lines(self.conn, run_id, after_seq=after, stream=stream, grep=grep,
                              since_step=since_step, limit=limit, last=last)
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None
        return [LoggedLine(int(seq), str(s), float(wall), None if step is None else int(step),
                           str(text)) for seq, s, wall, step, text in rows]

    def console_seq_at_step(self, run_id: str, step: int) -> int | None:
        """The ``seq`` of the run's first line printed at ``step`` or later (None: none was)."""
        try:
            return first_seq_at_step(self.conn, run_id, step)
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None
