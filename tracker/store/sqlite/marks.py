"""How much of each a run holds (the marks ``tracker sync`` goes on from), and the check of a
batch's ``expect`` against them in the write's transaction. Portable SQL (``?``): the
PostgreSQL backend runs it through its QmarkCursor."""

from __future__ import annotations

from typing import Any

from ..backend import ConflictError


def counts(conn: Any, run_id: str) -> dict[tuple[str, str], int]:
    """(kind, key) -> points or records of each series; ("console", ""), ("graph", ""),
    ("profile", "") -> how many (see ``ReadBackend.counts``)."""
    out: dict[tuple[str, str], int] = {
        (kind, key): int(n)
        for kind, key, n in conn.execute(
            "SELECT kind, key, count FROM series WHERE run_id = ? AND count > 0", (run_id,))
    }
    queries = (
        ("console", "SELECT count(*) FROM console_lines WHERE run_id = ?"),
        ("graph", "SELECT count(*) FROM graphs WHERE run_id = ?"),
        ("profile", "SELECT count(*) FROM profiles WHERE run_id = ?"),
    )
    for kind, sql in queries:
        n = conn.execute(sql, (run_id,)).fetchone()[0]
        if n:
            out[(kind, "")] = int(n)
    return out


def check(conn: Any, run_id: str, expect: dict[tuple[str, str], int]) -> None:
    """Raise ConflictError when the run holds other counts than ``expect`` says."""
    held = counts(conn, run_id)
    for mark, n in expect.items():
        if held.get(mark, 0) != n:
            raise ConflictError(f"run {run_id} holds {held.get(mark, 0)} of {mark[0]} "
                                f"{mark[1]!r}, not {n}: another copy wrote first")
