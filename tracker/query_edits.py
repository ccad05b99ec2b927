"""The few edits a user makes to runs (rename, tag, note, times, delete): a part of ``Store``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .store import describe_error, transaction


class RunEdits:
    """Run edits; mixed into ``Store``. Each is one short write transaction."""

    conn: sqlite3.Connection
    path: Path

    def _edit(self, sql: str, args: Sequence[Any]) -> None:
        try:
            with transaction(self.conn):
                self.conn.execute(sql, args)
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None

    def rename_run(self, run_id: str, name: str) -> None:
        """Give a run a new name."""
        if not name.strip():
            raise ValueError("a run name cannot be empty")
        self._edit("UPDATE runs SET name = ? WHERE id = ?", (name, run_id))

    def set_tags(self, run_id: str, tags: list[str]) -> None:
        """Replace a run's tags."""
        self._edit("UPDATE runs SET tags = ? WHERE id = ?", (json.dumps(list(tags)), run_id))

    def set_notes(self, run_id: str, notes: str | None) -> None:
        """Replace a run's notes."""
        self._edit("UPDATE runs SET notes = ? WHERE id = ?", (notes, run_id))

    def set_run_times(
        self, run_id: str, started: float | None = None, ended: float | None = None
    ) -> None:
        """Set a run's start and/or end time (importers take them from the imported events)."""
        self._edit(
            "UPDATE runs SET started = coalesce(?, started), ended = coalesce(?, ended),"
            " heartbeat = max(heartbeat, coalesce(?, heartbeat)) WHERE id = ?",
            (started, ended, ended, run_id),
        )

    def set_run_host(self, run_id: str, host: str | None) -> None:
        """Set the host a run ran on and clear its pid (importers: the source's host, or None;
        no process here is the run's)."""
        self._edit("UPDATE runs SET host = ?, pid = NULL WHERE id = ?", (host, run_id))

    def delete_runs(self, run_ids: Iterable[str]) -> int:
        """Delete runs and everything they logged; return how many runs were deleted."""
        ids = list(run_ids)
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        series = f"SELECT id FROM series WHERE run_id IN ({marks})"
        graphs = f"SELECT id FROM graphs WHERE run_id IN ({marks})"
        profiles = f"SELECT id FROM profiles WHERE run_id IN ({marks})"
        try:
            with transaction(self.conn):
                for table in ("points", "point_blocks", "point_chunks", "histograms", "texts"):
                    self.conn.execute(f"DELETE FROM {table} WHERE series_id IN ({series})", ids)
                for table in ("graph_nodes", "graph_edges"):
                    self.conn.execute(f"DELETE FROM {table} WHERE graph_id IN ({graphs})", ids)
                for table in ("profile_ops", "profile_steps"):
                    self.conn.execute(f"DELETE FROM {table} WHERE profile_id IN ({profiles})", ids)
                for table in ("series", "graphs", "profiles"):
                    self.conn.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", ids)
                cur = self.conn.execute(f"DELETE FROM runs WHERE id IN ({marks})", ids)
                return cur.rowcount
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None
