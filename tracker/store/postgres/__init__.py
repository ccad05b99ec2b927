"""The PostgreSQL backend: ``postgresql://`` and ``postgres://`` locations (psycopg 3, the
``postgres`` extra). Same tables and meanings as the SQLite store; see docs/postgres.md."""

from __future__ import annotations

from typing import Literal

from ...urls import ServerURL
from .read import PostgresReadBackend
from .write import PostgresWriteBackend

__all__ = ["PostgresReadBackend", "PostgresWriteBackend", "open_backend"]


def open_backend(location: str, mode: Literal["read", "write"] = "read", *, for_run: bool = True
                 ) -> PostgresReadBackend | PostgresWriteBackend:
    """A read or write handle on the store at a postgresql:// URL. A run's write handle creates
    or migrates the schema; an edit's (``for_run`` False) and a reader need it there."""
    url = ServerURL(location)
    if mode == "write":
        return PostgresWriteBackend(url, create=for_run)
    return PostgresReadBackend(url)
