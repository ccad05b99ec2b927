"""SQL of captured console lines: append a batch of a run's lines, read them back filtered."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

# A line as the writer holds it: (stream, wall, step, text).
LineRecord = tuple[str, float, int | None, str]

STREAMS = ("stdout", "stderr")


def append_lines(conn: sqlite3.Connection, run_id: str, lines: Sequence[LineRecord]) -> None:
    """Insert ``lines`` after the run's last stored line (seq numbers go on from there), in the
    caller's open transaction: whoever writes the run next continues the numbering."""
    if not lines:
        return
    row = conn.execute("SELECT MAX(seq) FROM console_lines WHERE run_id = ?", (run_id,)).fetchone()
    first = 0 if row[0] is None else int(row[0]) + 1
    conn.executemany(
        "INSERT INTO console_lines (run_id, seq, stream, wall, step, text) VALUES (?, ?, ?, ?, ?, ?)",
        [(run_id, first + i, stream, float(wall), step, text)
         for i, (stream, wall, step, text) in enumerate(lines)],
    )


def read_lines(
    conn: sqlite3.Connection,
    run_id: str,
    *,
    after_seq: int | None = None,
    stream: str | None = None,
    grep: str | None = None,
    since_step: int | None = None,
    limit: int | None = None,
    last: bool = False,
) -> list[tuple[int, str, float, int | None, str]]:
    """Rows (seq, stream, wall, step, text) in seq order.

    ``after_seq``: only lines after it (a follower's position); ``stream``: stdout or stderr;
    ``grep``: lines containing this text (case-sensitive, no patterns); ``since_step``: lines
    printed at that step or later (lines from before the first log() have no step and are left
    out); ``limit``: at most that many, the first ones, or with ``last`` the last ones.
    """
    where: list[str] = ["run_id = ?"]
    args: list[object] = [run_id]
    if after_seq is not None:
        where.append("seq > ?")
        args.append(int(after_seq))
    if stream is not None:
        where.append("stream = ?")
        args.append(stream)
    if grep:
        where.append("instr(text, ?) > 0")
        args.append(grep)
    if since_step is not None:
        where.append("step >= ?")
        args.append(int(since_step))
    sql = f"SELECT seq, stream, wall, step, text FROM console_lines WHERE {' AND '.join(where)}"
    sql += " ORDER BY seq DESC" if last else " ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(max(0, int(limit)))
    rows: list[Any] = conn.execute(sql, args).fetchall()
    if last:
        rows.reverse()
    return rows


def first_seq_at_step(conn: sqlite3.Connection, run_id: str, step: int) -> int | None:
    """The seq of the first line printed at ``step`` or later (None: none was)."""
    row = conn.execute("SELECT MIN(seq) FROM console_lines WHERE run_id = ? AND step >= ?",
                       (run_id, int(step))).fetchone()
    return None if row[0] is None else int(row[0])


def line_count(conn: sqlite3.Connection, run_id: str) -> int:
    """How many lines the run has stored."""
    return int(conn.execute("SELECT COUNT(*) FROM console_lines WHERE run_id = ?",
                            (run_id,)).fetchone()[0])
