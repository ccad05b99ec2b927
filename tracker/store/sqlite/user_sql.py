"""A user's SQL statement over a store, read-only, with scalar points as the ``metrics`` view.

Points live packed in ``point_chunks`` (one row per up to 65,536 points), which SQL cannot
unpack at a usable speed, so ``metrics`` is a TEMP view made on this connection only: each chunk
row is joined to a TEMP table of point indexes, and Python functions give the step, wall and
value of point i of a chunk (each chunk column is unpacked once and kept while its points are
read). The store file is opened ``mode=ro`` and nothing can be written (``query_only``, and no
ATTACH or VACUUM INTO, which would create files).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from ...errors import StoreError
from .chunks import unpack_floats, unpack_steps
from .connection import connect_readonly, describe_error

ROWS_PER_FETCH = 1_000

_METRICS_VIEW = """
CREATE TEMP VIEW metrics AS
SELECT r.project AS project, r.name AS run, r.id AS run_id, s.key AS key,
       tracker_point_step(c.rowid, p.i) AS step,
       tracker_point_wall(c.rowid, p.i) AS wall,
       tracker_point_value(c.rowid, p.i) AS value
FROM runs r
JOIN series s ON s.run_id = r.id
JOIN point_chunks c ON c.series_id = s.id
CROSS JOIN temp.point_index p  -- CROSS: every chunk's points are read one after the other
WHERE p.i < c.n
"""

# Pragmas that take an argument and only read; any other pragma with an argument could change
# how this connection behaves (query_only = 0) and is refused.
_READING_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "integrity_check", "quick_check", "function_list",
})


class _ChunkColumn:
    """One column of the chunk last asked for, unpacked once (points are read chunk by chunk)."""

    def __init__(self, conn: sqlite3.Connection, column: str) -> None:
        self.conn = conn
        self.sql = f"SELECT n, step_lo, step_hi, {column} FROM point_chunks WHERE rowid = ?"
        self.column = column
        self.rowid: int | None = None
        self.items: list[Any] = []

    def __call__(self, rowid: int, i: int) -> Any:
        if rowid != self.rowid:
            row = self.conn.execute(self.sql, (rowid,)).fetchone()
            self.items = [] if row is None else self._unpack(*row)
            self.rowid = rowid
        return self.items[i] if 0 <= i < len(self.items) else None

    def _unpack(self, n: int, step_lo: int, step_hi: int, blob: bytes) -> list[Any]:
        if self.column == "steps":
            return unpack_steps(blob, n, step_lo, step_hi).tolist()
        values = unpack_floats(blob).tolist()
        return [None if v != v else v for v in values]  # NaN reads as NULL, as SQLite stores it


def _authorizer(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):  # ATTACH and VACUUM INTO
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and arg2 is not None and arg1 not in _READING_PRAGMAS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def open_for_sql(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """The store at ``path`` opened read-only, with the TEMP ``metrics`` view."""
    conn = connect_readonly(path, cache_kib=32_000)
    try:
        longest = conn.execute("SELECT coalesce(max(n), 0) FROM point_chunks").fetchone()[0]
        conn.execute("CREATE TEMP TABLE point_index (i INTEGER PRIMARY KEY)")
        conn.execute(
            "INSERT INTO temp.point_index WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL"
            " SELECT i + 1 FROM k WHERE i + 1 < ?) SELECT i FROM k WHERE i < ?",
            (longest, longest),
        )
        functions: dict[str, Callable[[int, int], Any]] = {
            "tracker_point_step": _ChunkColumn(conn, "steps"),
            "tracker_point_wall": _ChunkColumn(conn, "walls"),
            "tracker_point_value": _ChunkColumn(conn, "vals"),
        }
        for name, fn in functions.items():
            conn.create_function(name, 2, fn, deterministic=True)
        conn.execute(_METRICS_VIEW)
        conn.execute("PRAGMA query_only = 1")
        conn.set_authorizer(_authorizer)
    except sqlite3.Error as exc:
        conn.close()
        raise describe_error(exc, path) from None
    return conn


def run_query(
    conn: sqlite3.Connection, sql: str, path: str | os.PathLike[str]
) -> tuple[list[str], Iterator[tuple]]:
    """Run one statement; return its column names and its rows (fetched as they are read).

    Raises:
        StoreError: a one-line message for bad SQL, a write, or a store that fails.
    """
    try:
        cursor = conn.execute(sql)
    except sqlite3.Warning as exc:  # more than one statement
        raise StoreError(f"SQL: {exc}; give one statement") from None
    except sqlite3.Error as exc:
        raise _sql_error(exc, path) from None
    columns = [d[0] for d in cursor.description or ()]
    return columns, _rows(cursor, path)


def _rows(cursor: sqlite3.Cursor, path: str | os.PathLike[str]) -> Iterator[tuple]:
    try:
        while batch := cursor.fetchmany(ROWS_PER_FETCH):
            yield from batch
    except sqlite3.Error as exc:
        raise _sql_error(exc, path) from None


def _sql_error(exc: sqlite3.Error, path: str | os.PathLike[str]) -> StoreError:
    low = str(exc).lower()
    if "readonly" in low or "read-only" in low or "not authorized" in low or "denied" in low:
        return StoreError(f"SQL: {exc}; tracker sql only reads (use the app or tracker rm to edit)")
    if "locked" in low or "busy" in low or "malformed" in low or "disk" in low:
        return describe_error(exc, path)
    return StoreError(f"SQL: {exc}")
