"""The local spool: where a new run goes when its server store cannot be reached at its start,
so that training starts anyway (pushed to the server later with ``tracker sync``)."""

from __future__ import annotations

from pathlib import Path

from .. import notices
from ..store import open_backend
from ..store.backend import StorageFault, WriteBackend
from ..urls import ServerURL, without_password


def spool_path(url: ServerURL) -> Path:
    """The spool of a server store on this host: a SQLite store under $TRACKER_HOME (else
    ~/.cache/tracker), named after the URL without its password."""
    return url.local_folder("-spool.db")


def open_for_start(location: Path, *, strict: bool, may_spool: bool) -> tuple[WriteBackend, Path]:
    """A write handle for a run's start and the location it writes to: ``location``, or, when
    that is a server that cannot be reached and ``may_spool`` (a new run, not ``strict``), the
    local spool, said once.

    Raises:
        StoreError: the store cannot be opened (and no spool is allowed).
    """
    try:
        return open_backend(location, mode="write"), location
    except StorageFault as exc:
        if strict or not may_spool or not isinstance(location, ServerURL):
            raise
        path = spool_path(location)
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = open_backend(path, mode="write")
        notices.warn_once(
            f"spool {path}",
            f"{exc}; training goes on: this run is stored in the local spool {path} (push it "
            f"later with: tracker sync {path} {without_password(location.conninfo)})")
        return backend, path
