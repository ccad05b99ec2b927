"""The ``--db`` option every ``tracker`` command takes, before or after the command's name."""

from __future__ import annotations

import os
from typing import Any

import click

from .errors import TrackerError
from .paths import DB_ENV_VAR

DB_HELP = f"Store file (default: ${DB_ENV_VAR}, else ./tracker.db)."


def _same_file(a: str, b: str) -> bool:
    return os.path.realpath(os.path.expanduser(a)) == os.path.realpath(os.path.expanduser(b))


def _merge_with_top_level(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A command's ``--db`` merged with the one given before the command (``tracker --db X ls``):
    either selects the store; both given and naming different files is an error."""
    root = ctx.find_root()
    top = root.params.get("db") if root is not ctx else None
    if top and value and not _same_file(top, value):
        raise TrackerError(
            f"--db is given twice with different files ({top!r} before the command, {value!r}"
            " after it); give it once"
        )
    return value or top


def db_option(fn: Any) -> Any:
    """Decorate a command with ``--db PATH`` (no click checks on the path: the store says what is
    wrong with it in one line)."""
    return click.option("--db", "db", type=click.Path(), default=None, help=DB_HELP,
                        callback=_merge_with_top_level)(fn)
