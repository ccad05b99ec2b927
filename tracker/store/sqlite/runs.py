"""Creating, resuming and attaching to a run's row in the ``runs`` table."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import to_config
from .errors import RunNotFoundError
from .names import new_run_id, readable_name
from .store import transaction
from .values import check_utf8

_now = time.time  # a module attribute so tests can freeze the clock


@dataclass
class RunRow:
    """What a ``Run`` needs to know about its row."""

    id: str
    project: str
    name: str
    group: str | None
    config: dict[str, Any]
    tags: list[str]
    next_step: int
    notes: str | None = None
    started: float | None = None


def create(
    conn: sqlite3.Connection,
    project: str,
    name: str | None,
    config: Any,
    tags: Any,
    group: str | None,
    notes: str | None,
) -> RunRow:
    """Insert a new running run (name defaults to a readable one numbered within the project)."""
    if not isinstance(project, str) or not project.strip():
        raise ValueError(f"project must be a non-empty string, not {project!r}")
    check_utf8(project, f"project {project!r}")
    if name is not None:
        check_utf8(str(name), "run name")
    if group is not None:
        check_utf8(str(group), "group")
    row = RunRow(new_run_id(), project, "", group, to_config(config), check_tags(tags), 0, notes)
    env = os.environ
    with transaction(conn):
        if name is None:
            count = conn.execute("SELECT count(*) FROM runs WHERE project = ?", (project,))
            name = readable_name(count.fetchone()[0] + 1)
        row.name = str(name)
        now = row.started = _now()
        conn.execute(
            "INSERT INTO runs (id, project, name, group_name, status, config, tags, notes, host,"
            " pid, rank, local_rank, world_size, started, heartbeat)"
            " VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.id, project, row.name, group, json.dumps(row.config), json.dumps(row.tags),
                notes, socket.gethostname(), os.getpid(), _env_int(env, "RANK"),
                _env_int(env, "LOCAL_RANK"), _env_int(env, "WORLD_SIZE"), now, now,
            ),
        )
    return row


def load(conn: sqlite3.Connection, run_id: str, action: str, db_path: Path) -> RunRow:
    """An existing run's row (to attach to it, or as the start of a resume)."""
    found = conn.execute(
        "SELECT id, project, name, group_name, config, tags, notes, started FROM runs WHERE id = ?",
        (run_id,),
    ).fetchone()
    if found is None:
        raise RunNotFoundError(f"cannot {action}: no run with id {run_id!r} in {db_path}")
    return RunRow(found[0], found[1], found[2], found[3], json.loads(found[4]),
                  json.loads(found[5]), 0, found[6], found[7])


def resume(
    conn: sqlite3.Connection,
    run_id: str,
    config: Any,
    tags: Any,
    notes: str | None,
    db_path: Path,
) -> RunRow:
    """Mark a run running again in this process; steps continue after its last scalar step."""
    row = load(conn, run_id, "resume", db_path)
    row.config.update(to_config(config))
    row.tags += [t for t in check_tags(tags) if t not in row.tags]
    last = conn.execute(
        "SELECT max(last_step) FROM series WHERE run_id = ? AND kind = 'scalar'", (row.id,)
    ).fetchone()[0]
    row.next_step = 0 if last is None else int(last) + 1
    with transaction(conn):
        conn.execute(
            "UPDATE runs SET status = 'running', ended = NULL, heartbeat = ?, pid = ?, host = ?,"
            " config = ?, tags = ?, notes = coalesce(?, notes) WHERE id = ?",
            (_now(), os.getpid(), socket.gethostname(), json.dumps(row.config),
             json.dumps(row.tags), notes, row.id),
        )
    return row


def recreate(conn: sqlite3.Connection, row: RunRow, config: Any, tags: list[str]) -> None:
    """Insert a run's row into a store that lacks it (the file was deleted or replaced while the
    run was logging): the run goes on there, running. Nothing happens when the row is there."""
    now = _now()
    with transaction(conn):
        conn.execute(
            "INSERT INTO runs (id, project, name, group_name, status, config, tags, notes, host,"
            " pid, started, heartbeat) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO NOTHING",
            (row.id, row.project, row.name, row.group, json.dumps(config), json.dumps(tags),
             row.notes, socket.gethostname(), os.getpid(), row.started or now, now),
        )


def check_tags(tags: Any) -> list[str]:
    """Tags as a list of non-empty strings (a lone string is one tag)."""
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = [tags]
    out = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise ValueError(f"tags must be non-empty strings, got {tag!r}")
        out.append(check_utf8(tag, f"tag {tag!r}"))
    return out


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    try:
        return int(env[name])
    except (KeyError, ValueError):
        return None
