"""Letting go of a connection whose file no longer is the one at its path (deleted or replaced).

SQLite names a database's -wal and -shm files after its path, and a connection's close checkpoints
and deletes them by name: for a file that was replaced, those names now belong to the new file.
So such a connection first moves its pages out of the -wal (which the new file would otherwise
take for its own) and is then never closed, not even at interpreter exit.
"""

from __future__ import annotations

import sqlite3

_kept: list[sqlite3.Connection] = []


def let_go(conn: sqlite3.Connection, *, replaced: bool) -> None:
    """Stop using ``conn``. ``replaced``: another file is at its path now (else: nothing is, and
    what is left beside the path, -wal and -shm, is its own, so it closes normally)."""
    if not replaced:
        try:
            conn.close()
        except sqlite3.Error:
            pass
        return
    try:
        conn.execute("PRAGMA busy_timeout = 250")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error:
        pass
    abandon(conn)


def abandon(conn: sqlite3.Connection) -> None:
    """Never close ``conn`` (a connection to a replaced file, or a forked child's copy of its
    parent's connection): it stays open until the process ends."""
    import ctypes

    _kept.append(conn)
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(conn))  # never freed, so never closed
