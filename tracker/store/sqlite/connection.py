"""Opening the store: read-only for readers, read-write (creating or migrating) for writers, and
one-line messages for bad files.

Readers (``connect_readonly``) never write: no schema, no WAL switch, no migration; a foreign or
older file is refused in one line. Writers (``connect``) create a store only in a new or empty
file and migrate an older one, unless told not to.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...errors import SchemaTooNewError, StoreError
from . import schema

BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process's write transaction
SCHEMA_VERSION = schema.SCHEMA_VERSION  # a module attribute: tests stand in a newer version here
_SIGNATURE_TABLES = ("runs", "series")  # tables every tracker store has had since version 1


def connect(
    path: str | os.PathLike[str],
    *,
    create: bool = False,
    migrate: bool = True,
    cache_kib: int = 32_000,
) -> sqlite3.Connection:
    """Open the store at ``path`` for writing (WAL mode), creating or migrating its schema.

    ``create`` allows making a store in a missing or empty file; ``migrate`` allows upgrading an
    older schema. The connection is in autocommit mode: callers group writes with
    ``transaction()``. ``cache_kib`` sizes SQLite's page cache: large for readers (charts), small
    for a run's writer so a training process does not grow by the cache.

    Raises:
        StoreError: missing or empty (when not ``create``), not reachable or not writable, not
            SQLite, another program's database, corrupt, locked, older (when not ``migrate``), or
            written by a newer tracker (``SchemaTooNewError``).
    """
    return _open_for_writing(Path(path), create, migrate, cache_kib)[0]


def upgrade(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Bring an existing store (or an empty file) to this tracker's schema, and compact it when
    it was migrated; return the schema versions (before, after). ``tracker migrate`` calls it."""
    path = Path(path)
    if _stat(path) is None:
        raise StoreError(f"no store at {path}; pass the --db of an existing store")
    conn, before = _open_for_writing(path, True, True, 2_000)
    try:
        if 0 < before < SCHEMA_VERSION:
            # A migration may free much of the file (version 2 drops a table of 35 B a point):
            # give it back. Writers that migrate on open do not: later writes reuse the space.
            conn.execute("VACUUM")
    except sqlite3.Error as exc:
        raise StoreError(
            f"{path} is upgraded to schema version {SCHEMA_VERSION}, but compacting it failed"
            f" ({describe_error(exc, path)}); its free space is reused by later runs"
        ) from None
    finally:
        conn.close()
    return before, SCHEMA_VERSION


def connect_readonly(path: str | os.PathLike[str], *, cache_kib: int = 32_000) -> sqlite3.Connection:
    """Open an existing store for reading only: nothing about the file changes.

    An empty file (0 bytes, or an SQLite database with nothing in it) reads as a store with no
    runs. A store being written by a live process is read as of its last commit.

    Raises:
        StoreError: missing, not reachable or readable, not SQLite, another program's database,
            corrupt, locked, written by an older tracker (run ``tracker migrate``), or by a newer
            one (``SchemaTooNewError``).
    """
    path = Path(path)
    info = _stat(path)
    if info is None:
        raise StoreError(f"no store at {path}; log a run first or pass --db PATH")
    if stat.S_ISDIR(info.st_mode):
        raise StoreError(f"{path} is a directory; pass the path of a .db file")
    if not os.access(path, os.R_OK):
        raise StoreError(f"{path} is not readable by this user; check its permissions (ls -l)")
    if info.st_size == 0:
        return _empty_store()
    conn = _open_readonly(path)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        version = _check_kind(conn, path)
        if version == 0:  # an SQLite database with nothing in it
            conn.close()
            return _empty_store()
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by an older tracker (schema version {version}, this tracker"
                f" reads {SCHEMA_VERSION}); upgrade it with: tracker migrate --db"
                f" {shlex.quote(str(path))}"
            )
        conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
    except sqlite3.Error as exc:
        conn.close()
        raise describe_error(exc, path) from None
    except StoreError:
        conn.close()
        raise
    return conn


def _open_readonly(path: Path) -> sqlite3.Connection:
    """A ``mode=ro`` connection. A reader of a WAL file needs its -wal and -shm files; in a folder
    this user cannot write, SQLite cannot make them, so a WAL file without a -wal file is opened
    ``immutable`` there (no process is writing it: a writer would have made the -wal first)."""
    uri = path.absolute().as_uri() + "?mode=ro"
    conn = _sqlite_connect(uri, path)
    if (os.access(path.parent, os.W_OK | os.X_OK) or _exists(Path(f"{path}-wal"))
            or not _in_wal_mode(path)):
        return conn
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        low = str(exc).lower()
        if "locked" in low or "busy" in low:
            raise describe_error(exc, path) from None
    return _sqlite_connect(uri + "&immutable=1", path)


def _in_wal_mode(path: Path) -> bool:
    """Whether the database header says WAL (file format write version 2, byte 18)."""
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[18] == 2


def _sqlite_connect(target: str, path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(
            target, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False,
            uri=target.startswith("file:"),
        )
    except sqlite3.Error as exc:
        raise describe_error(exc, path) from None


def _empty_store() -> sqlite3.Connection:
    """An in-memory store with the current schema and no runs: what an empty file reads as."""
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    with transaction(conn):
        for version in range(SCHEMA_VERSION):
            schema.MIGRATIONS[version](conn)
    return conn


def _open_for_writing(
    path: Path, create: bool, migrate: bool, cache_kib: int
) -> tuple[sqlite3.Connection, int]:
    info = _stat(path)
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise StoreError(f"{path} is a directory; pass the path of a .db file")
    if info is None:
        if not create:
            raise StoreError(f"no store at {path}; log a run first or pass --db PATH")
        _make_parent(path)
    _check_writable(path, info is not None)
    conn = _sqlite_connect(str(path), path)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        version = _check_kind(conn, path)
        if version == 0 and not create:
            raise StoreError(f"{path} is empty: no tracker store yet; log a run to it first")
        if 0 < version < SCHEMA_VERSION and not migrate:
            raise StoreError(
                f"{path} was written by an older tracker (schema version {version}); upgrade it"
                f" with: tracker migrate --db {shlex.quote(str(path))}"
            )
        if version < SCHEMA_VERSION:
            # Before the WAL switch: a new store's schema commits atomically (rollback journal),
            # so a process killed midway leaves the file empty, never half made.
            _migrate(conn, path)
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: readers never block the writer
        conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable at checkpoints, never corrupt
        conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
    except sqlite3.Error as exc:
        conn.close()
        raise describe_error(exc, path) from None
    except StoreError:
        conn.close()
        raise
    return conn, version


def _check_kind(conn: sqlite3.Connection, path: Path) -> int:
    """The file's schema version (0: an SQLite database with nothing in it).

    Raises:
        StoreError: another program's database; SchemaTooNewError: a newer tracker's store.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]  # fails here if not a database
    names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    if not names and version == 0:
        return 0
    if version < 1 or not set(_SIGNATURE_TABLES) <= names:
        raise StoreError(
            f"{path} is not a tracker store (an SQLite database of another program); pass the"
            " --db of a tracker store, or a new file name to start one"
        )
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"this store has schema version {version} but this tracker knows {SCHEMA_VERSION}; "
            "upgrade tracker-tui (pip install -U tracker-tui)"
        )
    return version


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    with transaction(conn):
        version = _check_kind(conn, path)  # another process may have won
        while version < SCHEMA_VERSION:
            schema.MIGRATIONS[version](conn)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")


def _stat(path: Path) -> os.stat_result | None:
    """``path``'s stat, or None when it does not exist; a folder on the way that cannot be
    entered is a one-line StoreError, not a PermissionError."""
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError:
        raise StoreError(_unreachable(path)) from None
    except OSError as exc:
        raise StoreError(f"cannot reach {path}: {exc.strerror}") from None


def _exists(path: Path) -> bool:
    try:
        return _stat(path) is not None
    except StoreError:
        return False


def _unreachable(path: Path) -> str:
    folder = next((p for p in reversed(path.absolute().parents) if not os.access(p, os.X_OK)),
                  path.absolute().parent)
    return (f"cannot reach {path}: this user may not enter the folder {folder}; ask its owner"
            " for access (chmod +x) or pass another --db")


def _make_parent(path: Path) -> None:
    if _exists(path.parent):
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise StoreError(
            f"cannot create the folder {path.parent}: permission denied; pass another --db"
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot create directory {path.parent}: {exc.strerror}") from None


def _check_writable(path: Path, exists: bool) -> None:
    """One line naming what this user may not write, before SQLite would fail on it later."""
    folder = path.parent
    if exists and not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(
            f"{path} is read-only for this user; check its permissions (ls -l) or pass another"
            " --db"
        )
    needs_folder = not exists or not (_exists(Path(f"{path}-wal")) and _exists(Path(f"{path}-shm")))
    if needs_folder and not os.access(folder, os.W_OK | os.X_OK):
        what = "create the store" if not exists else f"create {path.name}-wal next to it"
        raise StoreError(
            f"the folder {folder} is not writable by this user (SQLite must {what}); check its"
            " permissions or pass another --db"
        )


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
