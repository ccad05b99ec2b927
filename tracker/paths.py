"""Where the store lives when the caller does not say: the only place that guesses a path."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB_NAME = "tracker.db"
DB_ENV_VAR = "TRACKER_DB"


def resolve_db_path(db: str | os.PathLike[str] | None = None) -> Path:
    """Return the store path: the argument, else $TRACKER_DB, else ./tracker.db."""
    if db is not None and str(db) != "":
        return Path(db).expanduser()
    env = os.environ.get(DB_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.cwd() / DEFAULT_DB_NAME
