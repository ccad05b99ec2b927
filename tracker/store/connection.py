"""Opening the store: pragmas, schema checks and migrations, and one-line messages for bad files."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import SchemaTooNewError, StoreError
from .schema import MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process's write transaction


def connect(
    path: str | os.PathLike[str], *, create: bool = False, cache_kib: int = 32_000
) -> sqlite3.Connection:
    """Open the store at ``path``, creating or migrating its schema as needed.

    The connection is in autocommit mode: callers group writes with ``transaction()``.
    ``cache_kib`` sizes SQLite's page cache: large for readers (charts), small for a run's writer
    so a training process does not grow by the cache.

    Raises:
        StoreError: missing (when not ``create``), not SQLite, corrupt, locked, read-only when a
            migration is needed, or written by a newer tracker (``SchemaTooNewError``).
    """
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"{path} is a directory; pass the path of a .db file")
    if not create and not path.exists():
        raise StoreError(f"no store at {path}; log a run first or pass --db PATH")
    if create and not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create directory {path.parent}: {exc.strerror}") from None
    try:
        conn = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise describe_error(exc, path) from None
    try:
        _prepare(conn, cache_kib)
    except sqlite3.Error as exc:
        conn.close()
        raise describe_error(exc, path) from None
    except StoreError:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, cache_kib: int) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    version = conn.execute("PRAGMA user_version").fetchone()[0]  # fails here if not a database
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"this store has schema version {version} but this tracker knows {SCHEMA_VERSION}; "
            "upgrade tracker-tui (pip install -U tracker-tui)"
        )
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")  # persistent: readers never block the writer
    conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable at checkpoints, never corrupt
    conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
    if version < SCHEMA_VERSION:
        _migrate(conn)


def _migrate(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](conn)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: BEGIN IMMEDIATE takes the write lock up front (no upgrade deadlock)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def describe_error(exc: sqlite3.Error, path: str | os.PathLike[str]) -> StoreError:
    """Turn an sqlite3 error into a one-line StoreError that says what to do."""
    msg = str(exc)
    low = msg.lower()
    if "not a database" in low or "malformed" in low or "disk image" in low:
        return StoreError(f"{path} is not a tracker store or is corrupt ({msg})")
    if "locked" in low or "busy" in low:
        return StoreError(
            f"{path} is locked by another process for more than {BUSY_TIMEOUT_S:.0f} s; "
            "try again when it finishes"
        )
    if "readonly" in low or "read-only" in low:
        return StoreError(f"{path} is read-only; check its permissions or pass another --db")
    if "unable to open" in low:
        return StoreError(f"cannot open {path}; check the path and its directory's permissions")
    if "disk is full" in low or "full" in low:
        return StoreError(f"the disk holding {path} is full")
    return StoreError(f"{path}: {msg}")
