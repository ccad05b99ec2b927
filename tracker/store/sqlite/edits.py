"""SQL of the few edits a user makes to runs (rename, tag, note, times, host, delete)."""

from __future__ import annotations

import json
import sqlite3


def rename_run(conn: sqlite3.Connection, run_id: str, name: str) -> None:
    conn.execute("UPDATE runs SET name = ? WHERE id = ?", (name, run_id))


def set_tags(conn: sqlite3.Connection, run_id: str, tags: list[str]) -> None:
    conn.execute("UPDATE runs SET tags = ? WHERE id = ?", (json.dumps(list(tags)), run_id))


def set_notes(conn: sqlite3.Connection, run_id: str, notes: str | None) -> None:
    conn.execute("UPDATE runs SET notes = ? WHERE id = ?", (notes, run_id))


def set_run_times(conn: sqlite3.Connection, run_id: str, started: float | None,
                  ended: float | None) -> None:
    conn.execute(
        "UPDATE runs SET started = coalesce(?, started), ended = coalesce(?, ended),"
        " heartbeat = max(heartbeat, coalesce(?, heartbeat)) WHERE id = ?",
        (started, ended, ended, run_id),
    )


def set_run_host(conn: sqlite3.Connection, run_id: str, host: str | None) -> None:
    conn.execute("UPDATE runs SET host = ?, pid = NULL WHERE id = ?", (host, run_id))


def delete_runs(conn: sqlite3.Connection, ids: list[str]) -> int:
    """Delete runs and everything they logged (in the open transaction); how many runs went."""
    marks = ",".join("?" * len(ids))
    series = f"SELECT id FROM series WHERE run_id IN ({marks})"
    graphs = f"SELECT id FROM graphs WHERE run_id IN ({marks})"
    profiles = f"SELECT id FROM profiles WHERE run_id IN ({marks})"
    for table in ("point_blocks", "point_chunks", "histograms", "texts", "images"):
        conn.execute(f"DELETE FROM {table} WHERE series_id IN ({series})", ids)
    for table in ("graph_nodes", "graph_edges"):
        conn.execute(f"DELETE FROM {table} WHERE graph_id IN ({graphs})", ids)
    for table in ("profile_ops", "profile_steps"):
        conn.execute(f"DELETE FROM {table} WHERE profile_id IN ({profiles})", ids)
    for table in ("series", "graphs", "profiles", "console_lines"):
        conn.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", ids)
    return int(conn.execute(f"DELETE FROM runs WHERE id IN ({marks})", ids).rowcount)
