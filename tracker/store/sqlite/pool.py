"""Idle write connections kept per store file, so a process that runs many short runs (a sweep)
does not pay SQLite's checkpoint-and-delete of the WAL each time its last connection closes."""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
from pathlib import Path

from . import connection, stale

# idle connections per store, each with the (st_dev, st_ino) of the file it was released on
_idle: dict[Path, list[tuple[sqlite3.Connection, tuple[int, int] | None]]] = {}
_lock = threading.Lock()
_pid = os.getpid()
MAX_IDLE_PER_FILE = 4


def _forget_after_fork() -> None:
    # SQLite connections must not cross a fork: a forked child (a DataLoader worker) starts empty.
    global _pid
    if _pid != os.getpid():
        _pid = os.getpid()
        _idle.clear()


def acquire(path: Path, *, cache_kib: int) -> sqlite3.Connection:
    """An idle connection to ``path`` if there is one, else a new one (created/migrated)."""
    key = path.resolve()
    with _lock:
        _forget_after_fork()
        idle = _idle.get(key)
        conn, identity = idle.pop() if idle else (None, None)
    if conn is not None:
        try:  # the file may have been replaced or upgraded meanwhile: then open it afresh
            if (conn.execute("PRAGMA user_version").fetchone()[0] == connection.SCHEMA_VERSION
                    and identity is not None and identity == _identity(path)):
                return conn
        except (sqlite3.Error, OSError):
            pass
        stale.let_go(conn, replaced=identity != _identity(path) and path.exists())
    return connection.connect(path, create=True, cache_kib=cache_kib)


def release(path: Path, conn: sqlite3.Connection) -> None:
    """Give a connection back; it must not be inside a transaction."""
    key = path.resolve()
    if conn.in_transaction:
        conn.close()
        return
    with _lock:
        _forget_after_fork()
        idle = _idle.setdefault(key, [])
        if len(idle) < MAX_IDLE_PER_FILE:
            idle.append((conn, _identity(path)))
            return
    conn.close()


def close_all() -> None:
    """Close every idle connection (at interpreter exit, after runs have finished)."""
    with _lock:
        conns = [c for idle in _idle.values() for c, _ in idle]
        _idle.clear()
    for conn in conns:
        try:
            conn.close()
        except sqlite3.Error:
            pass


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


atexit.register(close_all)  # registered before any run's exit hook, so it runs after them
