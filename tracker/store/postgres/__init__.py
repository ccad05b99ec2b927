"""The PostgreSQL backend: ``postgresql://`` and ``postgres://`` locations (psycopg 3, the
``postgres`` extra). Same tables and meanings as the SQLite store; see docs/postgres.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from ...urls import ServerURL
from .read import PostgresReadBackend

if TYPE_CHECKING:
    from .write import PostgresWriteBackend

__all__ = ["PostgresReadBackend", "PostgresWriteBackend", "open_backend"]


def __getattr__(name: str) -> Any:
    # The write side is imported by writers only: a reader (the app's first paint) skips it.
    if name == "PostgresWriteBackend":
        from .write import PostgresWriteBackend

        return PostgresWriteBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_backend(location: str, mode: Literal["read", "write"] = "read", *, for_run: bool = True
                 ) -> PostgresReadBackend | PostgresWriteBackend:
    """A read or write handle on the store at a postgresql:// URL. A run's write handle creates
    or migrates the schema; an edit's (``for_run`` False) and a reader need it there."""
    url = ServerURL(location)
    if mode == "write":
        from .write import PostgresWriteBackend

        return PostgresWriteBackend(url, create=for_run)
    return PostgresReadBackend(url)
