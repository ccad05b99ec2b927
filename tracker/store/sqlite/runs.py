"""SQL of the ``runs`` table's rows a writer makes: create, load, resume, recreate; the final status."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ...names import readable_name
from ..backend import NewRun, RunStart
from .connection import transaction


def create(conn: sqlite3.Connection, new: NewRun) -> RunStart:
    """Insert a new running run (a name None becomes a readable one numbered within the project,
    counted in the same transaction)."""
    with transaction(conn):
        name = new.name
        if name is None:
            count = conn.execute("SELECT count(*) FROM runs WHERE project = ?", (new.project,))
            name = readable_name(count.fetchone()[0] + 1)
        conn.execute(
            "INSERT INTO runs (id, project, name, group_name, status, config, tags, notes, host,"
            " pid, rank, local_rank, world_size, started, heartbeat)"
            " VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new.id, new.project, name, new.group, json.dumps(new.config),
                json.dumps(new.tags), new.notes, new.host, new.pid, new.rank, new.local_rank,
                new.world_size, new.started, new.started,
            ),
        )
    return RunStart(new.id, new.project, name, new.group, new.config, list(new.tags), 0,
                    new.notes, new.started)


def load(conn: sqlite3.Connection, run_id: str) -> RunStart | None:
    """An existing run's row; None when there is none."""
    found = conn.execute(
        "SELECT id, project, name, group_name, config, tags, notes, started FROM runs WHERE id = ?",
        (run_id,),
    ).fetchone()
    if found is None:
        return None
    return RunStart(found[0], found[1], found[2], found[3], json.loads(found[4]),
                    json.loads(found[5]), 0, found[6], found[7])


def next_step(conn: sqlite3.Connection, run_id: str) -> int:
    """One past the run's highest scalar step (0 when it has none)."""
    last = conn.execute(
        "SELECT max(last_step) FROM series WHERE run_id = ? AND kind = 'scalar'", (run_id,)
    ).fetchone()[0]
    return 0 if last is None else int(last) + 1


def resume(conn: sqlite3.Connection, run_id: str, config: dict[str, Any], tags: list[str],
           notes: str | None, host: str, pid: int, now: float) -> None:
    """Mark a run running again in this process with this config, tags and notes."""
    with transaction(conn):
        conn.execute(
            "UPDATE runs SET status = 'running', ended = NULL, heartbeat = ?, pid = ?, host = ?,"
            " config = ?, tags = ?, notes = coalesce(?, notes) WHERE id = ?",
            (now, pid, host, json.dumps(config), json.dumps(tags), notes, run_id),
        )


def recreate(conn: sqlite3.Connection, run: RunStart, host: str, pid: int, now: float) -> None:
    """Insert a run's row into a store that lacks it (nothing when the row is there)."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO runs (id, project, name, group_name, status, config, tags, notes, host,"
            " pid, started, heartbeat) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO NOTHING",
            (run.id, run.project, run.name, run.group, json.dumps(run.config),
             json.dumps(run.tags), run.notes, host, pid, run.started or now, now),
        )


def touch(conn: sqlite3.Connection, run_id: str, now: float | None) -> bool:
    """Beat the run's heartbeat (``now`` None: only check the row is there); False when the
    run's row is gone."""
    if now is None:
        return conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None
    return conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (now, run_id)).rowcount > 0


def set_final(conn: sqlite3.Connection, run_id: str, status: str, ended: float,
              only_if_running: bool) -> None:
    """Write the run's final status and end time (and heartbeat, unless only if running: a spill
    file's status written back later must not overwrite a status set since)."""
    if only_if_running:
        conn.execute("UPDATE runs SET status = ?, ended = ? WHERE id = ? AND status = 'running'",
                     (status, ended, run_id))
    else:
        conn.execute("UPDATE runs SET status = ?, ended = ?, heartbeat = ? WHERE id = ?",
                     (status, ended, ended, run_id))


def patch_summary(conn: sqlite3.Connection, run_id: str, values: dict[str, Any]) -> None:
    conn.execute("UPDATE runs SET summary = json_patch(summary, ?) WHERE id = ?",
                 (json.dumps(values), run_id))


def set_config(conn: sqlite3.Connection, run_id: str, config: dict[str, Any]) -> None:
    conn.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(config), run_id))
