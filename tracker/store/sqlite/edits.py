"""The few edits a user makes to runs (rename, tag, note, times, delete): a part of ``Store``.

``Store`` reads through a read-only connection; each edit opens a write connection of its own on
the existing store (never creating or migrating one) and closes it when committed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .store import connect, describe_error, transaction


class RunEdits:
    """Run edits; mixed into ``Store``. Each is one short write transaction."""

    path: Path

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on a connection opened for it (a StoreError if the store is
        gone, read-only, older or newer than this tracker)."""
        conn = connect(self.path, create=False, migrate=False, cache_kib=2_000)
        try:
            with transaction(conn):
                yield conn
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None
        finally:
            conn.close()

    def _edit(self, sql: str, args: Sequence[Any]) -> None:
        with self._writing() as conn:
            conn.execute(sql, args)

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
        with self._writing() as conn:
            for table in ("point_blocks", "point_chunks", "histograms", "texts", "images"):
                conn.execute(f"DELETE FROM {table} WHERE series_id IN ({series})", ids)
            for table in ("graph_nodes", "graph_edges"):
                conn.execute(f"DELETE FROM {table} WHERE graph_id IN ({graphs})", ids)
            for table in ("profile_ops", "profile_steps"):
                conn.execute(f"DELETE FROM {table} WHERE profile_id IN ({profiles})", ids)
            for table in ("series", "graphs", "profiles", "console_lines"):
                conn.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", ids)
            return conn.execute(f"DELETE FROM runs WHERE id IN ({marks})", ids).rowcount
