"""The store: the only package that talks to a database. ``backend`` is the interface; ``sqlite``
the first backend. Open one with ``open_backend``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

from ..errors import StoreError
from ..urls import is_server_url

if TYPE_CHECKING:
    from .backend import ReadBackend, WriteBackend

__all__ = ["open_backend"]


@overload
def open_backend(location: str | os.PathLike[str], *, mode: Literal["read"] = "read",
                 for_run: bool = True) -> ReadBackend: ...
@overload
def open_backend(location: str | os.PathLike[str], *, mode: Literal["write"],
                 for_run: bool = True) -> WriteBackend: ...
def open_backend(location: str | os.PathLike[str], *, mode: Literal["read", "write"] = "read",
                 for_run: bool = True) -> ReadBackend | WriteBackend:
    """A read or write handle on the store at ``location`` (a path: SQLite; a
    ``postgresql://`` URL: PostgreSQL).

    ``mode="write"`` with ``for_run`` opens a run's handle (creating or migrating the store);
    without it, an edit's handle on an existing store of this tracker's schema.

    Raises:
        StoreError: the location cannot be opened (one line that says why and what to do).
    """
    text = os.fspath(location)
    if is_server_url(text):  # the scheme in any case, as urls.is_server_url
        try:
            from . import postgres  # the second backend (issue 17)
        except ImportError:
            raise StoreError("PostgreSQL stores are not supported by this tracker yet; "
                             "use a file path for --db / TRACKER_DB") from None
        return postgres.open_backend(text, mode=mode, for_run=for_run)
    path = Path(text)
    if mode == "read":
        from .sqlite.read import SqliteReader

        return SqliteReader(path)
    from .sqlite.write import SqliteWriter

    return SqliteWriter(path, for_run=for_run)
