"""Where the store lives when the caller does not say: the only place that guesses a path."""

from __future__ import annotations

import os
from pathlib import Path

from .urls import ServerURL, is_server_url

DEFAULT_DB_NAME = "tracker.db"
DB_ENV_VAR = "TRACKER_DB"


def resolve_db_path(db: str | os.PathLike[str] | None = None) -> Path:
    """Return the store location: the argument, else $TRACKER_DB, else ./tracker.db.

    A ``postgresql://`` URL comes back as a ``ServerURL`` (path-like for ``open_backend``; its
    ``str`` hides the password), typed as a Path for the callers that only pass it on.
    """
    if isinstance(db, ServerURL):
        return db  # type: ignore[return-value]
    if db is not None and str(db) != "":
        if is_server_url(db):
            return ServerURL(db)  # type: ignore[arg-type, return-value]
        return Path(db).expanduser()
    env = os.environ.get(DB_ENV_VAR)
    if env:
        if is_server_url(env):
            return ServerURL(env)  # type: ignore[return-value]
        return Path(env).expanduser()
    return Path.cwd() / DEFAULT_DB_NAME
