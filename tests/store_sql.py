"""A test's own SQL against either backend's store (to arrange state the API cannot: a stale
heartbeat, a check of the tables), without the store's code in between."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from tracker.urls import is_server_url


def execute(location: Any, sql: str) -> list[tuple[Any, ...]]:
    """Run one statement (no parameters: the same text on SQLite and PostgreSQL), committed;
    the rows it returns."""
    target = os.fspath(location)
    if is_server_url(target):
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def is_sqlite(location: Any) -> bool:
    return not is_server_url(os.fspath(location))
