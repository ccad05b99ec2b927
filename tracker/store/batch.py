"""Writing one batch of a run's points and records inside an open transaction.

Shared by the run's writer and by spill recovery. A part of the batch the store refuses for what
it holds (text it cannot encode, a bug in a record) costs only that part: the caller rolls back and
writes the batch again ``careful``-ly, part by part, each under a savepoint, and what failed is
returned with the reason. A storage fault (disk full, locked, I/O) is raised: the caller keeps
the whole batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import artifacts, console_sql, images_sql, series_writes
from .buffer import ScalarBatch


class RunGone(Exception):
    """The run's row is not in the store any more (deleted while a process was logging to it)."""


@dataclass
class Dropped:
    """Part of a batch the store refused: what it was, how many points or records, and why."""

    kind: str  # scalar | histogram | text | image | graph | profile | summary | config | console
    key: str | None
    count: int
    reason: str

    def __str__(self) -> str:
        if self.kind == "scalar":
            what = f"{self.count:,} points"
        else:
            what = f"{self.count:,} {self.kind} record{'s' if self.count != 1 else ''}"
        return what + (f" of {self.key!r}" if self.key is not None else "")


def is_storage_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a fault of the store (disk full, locked, I/O, unreadable, gone), after
    which the same data may be written later, rather than a fault of the data itself."""
    if isinstance(exc, OSError):
        return True
    return isinstance(exc, sqlite3.OperationalError) or type(exc) in (
        sqlite3.DatabaseError, sqlite3.InternalError)


def touch_run(conn: sqlite3.Connection, run_id: str, now: float) -> None:
    """Beat the run's heartbeat, first thing in every write transaction.

    Raises:
        RunGone: the run's row was deleted: nothing of this transaction may be written (a series
            row created for it would be an orphan no command lists or deletes).
    """
    if conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (now, run_id)).rowcount == 0:
        raise RunGone(run_id)


def write(
    conn: sqlite3.Connection,
    run_id: str,
    key_names: list[str],
    scalars: ScalarBatch | None,
    records: list[tuple[str, Any]],
    series_ids: dict[tuple[str, str], int],
    *,
    careful: bool = False,
) -> list[Dropped]:
    """Write a batch in the open transaction; return the parts dropped (only when ``careful``).

    Not careful (the usual), any failure is raised: a storage fault, or a fault of the data,
    after which the caller rolls back and writes the batch again carefully: part by part, each
    under a savepoint (which costs a journal of every page it changes, so only then).
    ``series_ids`` caches (kind, key) -> series id; clear it after a rollback.
    """
    parts = list(_parts(run_id, key_names, scalars, records))
    if careful:
        return _write_part_by_part(conn, parts, series_ids)
    for part in parts:
        part.write(conn, series_ids)
    return []


def _write_part_by_part(
    conn: sqlite3.Connection, parts: list[_Part], series_ids: dict[tuple[str, str], int]
) -> list[Dropped]:
    dropped = []
    for part in parts:
        conn.execute("SAVEPOINT part")
        try:
            part.write(conn, series_ids)
        except Exception as exc:
            conn.execute("ROLLBACK TO part")
            conn.execute("RELEASE part")
            if is_storage_fault(exc):
                raise
            series_ids.clear()
            reason = f"{type(exc).__name__}: {str(exc)[:160]}"
            dropped.append(Dropped(part.kind, part.key, part.count, reason))
            continue
        conn.execute("RELEASE part")
    return dropped


@dataclass
class _Part:
    """One unit that is written or dropped whole: a key's points, or one kind's records of a key."""

    run_id: str
    kind: str
    key: str | None
    items: Any
    count: int

    def write(self, conn: sqlite3.Connection, series_ids: dict[tuple[str, str], int]) -> None:
        kind, items = self.kind, self.items
        if kind == "scalar":
            steps, walls, values = items
            series_writes.append_scalars(conn, self._sid(conn, series_ids), steps, walls, values)
        elif kind == "histogram":
            series_writes.append_histograms(conn, self._sid(conn, series_ids), items)
        elif kind == "text":
            series_writes.append_texts(conn, self._sid(conn, series_ids), items)
        elif kind == "image":
            images_sql.append_images(conn, self._sid(conn, series_ids), items)
        elif kind == "graph":
            artifacts.write_graph(conn, self.run_id, items)
        elif kind == "profile":
            artifacts.write_profile(conn, self.run_id, items)
        elif kind == "summary":
            conn.execute("UPDATE runs SET summary = json_patch(summary, ?) WHERE id = ?",
                         (items, self.run_id))
        elif kind == "config":
            conn.execute("UPDATE runs SET config = ? WHERE id = ?", (items, self.run_id))
        elif kind == "console":  # a batch of captured lines
            console_sql.append_lines(conn, self.run_id, items)
        else:
            raise ValueError(f"unknown record kind {kind!r}")

    def _sid(self, conn: sqlite3.Connection, series_ids: dict[tuple[str, str], int]) -> int:
        assert self.key is not None
        sid = series_ids.get((self.kind, self.key))
        if sid is None:
            sid = series_ids[(self.kind, self.key)] = series_writes.series_id(
                conn, self.run_id, self.kind, self.key)
        return sid


def _parts(
    run_id: str, key_names: list[str], scalars: ScalarBatch | None, records: list[tuple[str, Any]]
) -> Iterator[_Part]:
    if scalars is not None and len(scalars):
        order = np.argsort(scalars.key_ids, kind="stable")  # per key, logging order kept
        cuts = np.flatnonzero(np.diff(scalars.key_ids[order])) + 1
        for idx in np.split(order, cuts):
            key = key_names[int(scalars.key_ids[idx[0]])]
            yield _Part(run_id, "scalar", key,
                        (scalars.steps[idx], scalars.walls[idx], scalars.values[idx]), len(idx))
    by_key: dict[tuple[str, str], list] = {}
    for kind, payload in records:
        if kind in ("histogram", "text", "image"):
            key, step, wall, obj = payload
            by_key.setdefault((kind, key), []).append((step, wall, obj))
            continue
        for (k, key), items in by_key.items():  # what came before, in order
            yield _Part(run_id, k, key, items, len(items))
        by_key = {}
        yield _Part(run_id, kind, getattr(payload, "name", None), payload, 1)
    for (kind, key), items in by_key.items():
        yield _Part(run_id, kind, key, items, len(items))
