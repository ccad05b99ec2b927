"""Writing one batch of a run's points and records inside an open transaction.

A part of the batch the store refuses for what it holds (text it cannot encode, a bug in a record)
costs only that part: the caller rolls back and writes the batch again ``careful``-ly, part by
part, each under a savepoint, and what failed is returned with the reason. A storage fault (disk
full, locked, I/O) is raised: the caller keeps the whole batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ...graph import Graph
from ...profile import Profile
from ..backend import (
    ConfigSet,
    ConsoleLines,
    Dropped,
    HistogramItem,
    ImageItem,
    Record,
    SummaryPatch,
    TextItem,
    WriteBatch,
    record_kind,
)
from . import artifacts, console_sql, images_sql, runs, series_writes

# Records stored per series (run, kind, key): consecutive ones of a key are written together.
_SERIES_RECORDS = (HistogramItem, TextItem, ImageItem)


def is_storage_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a fault of the store (disk full, locked, I/O, unreadable, gone), after
    which the same data may be written later, rather than a fault of the data itself."""
    if isinstance(exc, OSError):
        return True
    return isinstance(exc, sqlite3.OperationalError) or type(exc) in (
        sqlite3.DatabaseError, sqlite3.InternalError)


def write(
    conn: sqlite3.Connection,
    run_id: str,
    batch: WriteBatch,
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
    parts = list(_parts(run_id, batch))
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
    """One unit that is written or dropped whole: a key's points, one kind's records of a key,
    one call's console lines, or one other record."""

    run_id: str
    kind: str
    key: str | None
    items: Any
    count: int

    def write(self, conn: sqlite3.Connection, series_ids: dict[tuple[str, str], int]) -> None:
        kind, items = self.kind, self.items
        if kind == "scalar":
            series_writes.append_scalars(conn, self._sid(conn, series_ids), items.steps,
                                         items.walls, items.values)
        elif kind == "histogram":
            series_writes.append_histograms(conn, self._sid(conn, series_ids), items)
        elif kind == "text":
            series_writes.append_texts(conn, self._sid(conn, series_ids), items)
        elif kind == "image":
            images_sql.append_images(conn, self._sid(conn, series_ids), items)
        elif kind == "console":
            console_sql.append_lines(conn, self.run_id, items)
        elif isinstance(items, Graph):
            artifacts.write_graph(conn, self.run_id, items)
        elif isinstance(items, Profile):
            artifacts.write_profile(conn, self.run_id, items)
        elif isinstance(items, SummaryPatch):
            runs.patch_summary(conn, self.run_id, items.values)
        elif isinstance(items, ConfigSet):
            runs.set_config(conn, self.run_id, items.config)
        else:
            raise ValueError(f"unknown record {type(items).__name__}")

    def _sid(self, conn: sqlite3.Connection, series_ids: dict[tuple[str, str], int]) -> int:
        assert self.key is not None
        sid = series_ids.get((self.kind, self.key))
        if sid is None:
            sid = series_ids[(self.kind, self.key)] = series_writes.series_id(
                conn, self.run_id, self.kind, self.key)
        return sid


def _parts(run_id: str, batch: WriteBatch) -> Iterator[_Part]:
    for points in batch.points:
        if len(points):
            yield _Part(run_id, "scalar", points.key, points, len(points))
    by_key: dict[tuple[str, str], list[Any]] = {}
    for record in batch.records:
        if isinstance(record, _SERIES_RECORDS):
            by_key.setdefault((record_kind(record), record.key), []).append(record)
            continue
        yield from _grouped(run_id, by_key)  # what came before, in order
        by_key = {}
        if isinstance(record, ConsoleLines):  # one log_console() call's lines: one part
            yield _Part(run_id, "console", None, list(record.lines), 1)
            continue
        yield _Part(run_id, record_kind(record), getattr(record, "name", None), record, 1)
    yield from _grouped(run_id, by_key)


def _grouped(run_id: str, by_key: dict[tuple[str, str], list[Record]]) -> Iterator[_Part]:
    for (kind, key), items in by_key.items():
        yield _Part(run_id, kind, key, items, len(items))
