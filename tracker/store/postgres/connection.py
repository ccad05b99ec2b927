"""Connections to a PostgreSQL store: opening one (psycopg 3, the URL as given to libpq), the
schema check and migration on first use, and psycopg's errors as the store's one-line errors with
the password masked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from ...errors import SchemaTooNewError, StoreError, StoreMissingError
from ...urls import ServerURL
from ..backend import BusyError, StorageFault
from .schema import MIGRATION_LOCK, MIGRATIONS, READS_FROM, SCHEMA_VERSION

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # the extra is not installed
    psycopg = None  # type: ignore[assignment]

CONNECT_TIMEOUT_S = 5  # unless the URL says connect_timeout=: a dead host fails fast
# A network that dies silently (no reset) under a write: TCP gives up on unacknowledged data
# after this, and keepalives find an idle connection dead, instead of the OS's ~15 minutes
# during which the writer (and a log() waiting for room) would hang. Unless the URL says.
TCP_USER_TIMEOUT_MS = 15_000
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
               "keepalives_count": 3}


SchemaMissingError = StoreMissingError  # the database has no tracker tables yet


def require_driver() -> None:
    if psycopg is None:
        raise StoreError(
            "PostgreSQL stores need psycopg: pip install 'tracker-tui[postgres]'"
        )


def connect(url: ServerURL, mode: Literal["read", "write", "edit"]) -> Any:
    """An autocommit connection (transactions are explicit) with the schema checked: a run's
    writer creates or migrates it, an edit needs it there, a reader never writes (its session
    is read-only)."""
    require_driver()
    kwargs: dict[str, Any] = {"autocommit": True, "application_name": "tracker"}
    if "connect_timeout" not in url.conninfo:
        kwargs["connect_timeout"] = CONNECT_TIMEOUT_S
    if "tcp_user_timeout" not in url.conninfo:
        kwargs["tcp_user_timeout"] = TCP_USER_TIMEOUT_MS
    for name, value in _KEEPALIVES.items():
        if name not in url.conninfo:
            kwargs[name] = value
    try:
        conn = psycopg.connect(url.conninfo, **kwargs)
    except psycopg.Error as exc:
        raise describe(exc, url, "cannot connect to") from None
    try:
        if mode == "read":
            conn.execute("SET default_transaction_read_only = on")
        ensure_schema(conn, url, mode)
    except BaseException:
        conn.close()
        raise
    return conn


def schema_version(conn: Any) -> int | None:
    """The store's schema version; None when the database has no tracker tables."""
    # A query of the catalog, not to_regclass: that reads a cached catalog snapshot, which may
    # not yet show the table another process created while this one waited for the lock.
    found = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables"
        " WHERE schemaname = current_schema() AND tablename = 'tracker_schema')"
    ).fetchone()[0]
    if not found:
        return None
    row = conn.execute("SELECT version FROM tracker_schema").fetchone()
    return None if row is None else int(row[0])


def ensure_schema(conn: Any, url: ServerURL, mode: str) -> None:
    """Check the schema version; a writer creates or migrates it (one process at a time)."""
    try:
        version = schema_version(conn)
        if version == SCHEMA_VERSION:
            return
        if version is not None and version > SCHEMA_VERSION:
            raise _too_new(url, version)
        if mode != "write":
            if version is not None and version >= READS_FROM:
                return
            if version is None:
                raise SchemaMissingError(
                    f"{url} has no tracker store yet: log a run into it first"
                )
            raise StoreError(
                f"{url} has schema {version}, older than this tracker's {SCHEMA_VERSION}: open it"
                " once for writing (tracker.init) to upgrade it"
            )
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            version = schema_version(conn) or 0  # another process may have done it meanwhile
            if version > SCHEMA_VERSION:
                raise _too_new(url, version)
            for v in range(version, SCHEMA_VERSION):
                conn.execute(MIGRATIONS[v])
                conn.execute("UPDATE tracker_schema SET version = %s", (v + 1,))
    except psycopg.Error as exc:
        raise describe(exc, url, "cannot open the store at") from None


def _too_new(url: ServerURL, version: int) -> SchemaTooNewError:
    return SchemaTooNewError(
        f"{url} was written by a newer tracker (schema {version}, this one reads up to"
        f" {SCHEMA_VERSION}): upgrade tracker"
    )


def is_connection_lost(exc: BaseException) -> bool:
    """Whether the server went away (restart, network): the connection must be opened again."""
    return psycopg is not None and isinstance(exc, psycopg.OperationalError) and not isinstance(
        exc, (pg_errors.LockNotAvailable, pg_errors.QueryCanceled))


def describe(exc: BaseException, url: ServerURL, doing: str = "") -> StoreError:
    """A psycopg error as the store's error, on one line, the password masked."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    detail = url.hide(detail)  # libpq may quote the part of the URL it could not parse
    where = f"{doing} {url}" if doing else str(url)
    if psycopg is None:
        return StoreError(f"{where}: {detail}")
    if isinstance(exc, (pg_errors.LockNotAvailable, pg_errors.SerializationFailure,
                        pg_errors.DeadlockDetected, pg_errors.QueryCanceled)):
        return BusyError(f"{where}: busy ({detail})")
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        return StoreError(f"{where}: permission denied ({detail}); ask for a role with the grants"
                          " in docs/postgres.md")
    if isinstance(exc, psycopg.OperationalError) and _refused_us(detail):
        return StoreError(f"{where}: {detail}; check the URL's user, password and database")
    if isinstance(exc, (psycopg.OperationalError, pg_errors.DiskFull,
                        pg_errors.ReadOnlySqlTransaction, pg_errors.AdminShutdown)):
        return StorageFault(f"{where}: {detail}")
    return StoreError(f"{where}: {detail}")


_REFUSALS = ("password authentication failed", "does not exist", "no pg_hba.conf entry",
             "authentication failed", "permission denied for database")


def _refused_us(detail: str) -> bool:
    """The server answered, and said no to this user or database (not a network fault: a new
    run must not go to the local spool for a wrong password)."""
    low = detail.lower()
    return "fatal:" in low and any(r in low for r in _REFUSALS)


@contextmanager
def translated(url: ServerURL, doing: str = "") -> Iterator[None]:
    """psycopg errors raised inside become the store's errors."""
    try:
        yield
    except psycopg.Error as exc:
        raise describe(exc, url, doing) from None


class QmarkCursor:
    """Runs the SQLite backend's portable read SQL (``?`` placeholders) on a binary cursor, so
    the chunk reads and the reduction are one implementation for both backends."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Any = ()) -> Any:
        cur = self._conn.cursor(binary=True)
        return cur.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(args))
