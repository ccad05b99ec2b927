"""The SQLite ``ReadBackend``: one read-only connection; rows come back as stored."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ...graph import Graph
from ...profile import Profile
from ...records import HistogramPoint, ImagePoint, LoggedLine, ReducedSeries, Series, TextPoint
from ..backend import GraphInfo, KeyRow, LastValueRow, ProfileInfo, RunFilter, RunRow
from . import artifact_reads as art
from . import console_sql, images_sql, marks
from .chunks import read_points, read_points_after
from .connection import connect_readonly, describe_error
from .reduce import reduce_series

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_RUN_COLUMNS = (
    "id, project, name, group_name, status, config, tags, notes, host, pid, rank, world_size,"
    " started, ended, heartbeat, summary"
)
_T = TypeVar("_T")


class SqliteReader:
    """A read handle on one store file (see ``tracker.store.backend.ReadBackend``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        self.conn = connect_readonly(path)

    def close(self) -> None:
        self.conn.close()

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None

    # -- runs ---------------------------------------------------------------------------------------
    @staticmethod
    def _where(f: RunFilter) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        if f.project is not None:
            where.append("project = ?")
            args.append(f.project)
        if f.group is not None:
            where.append("group_name = ?")
            args.append(f.group)
        if f.tag is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE value = ?)")
            args.append(f.tag)
        if f.ids is not None:
            where.append(f"id IN ({','.join('?' * len(f.ids))})")
            args.extend(f.ids)
        return where, args

    def runs(self, where: RunFilter) -> list[RunRow]:
        conditions, args = self._where(where)
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        return list(map(RunRow._make, self._query(sql + " ORDER BY started DESC, id", args)))

    def last_values(self, where: RunFilter) -> list[LastValueRow]:
        conditions, args = self._where(where)
        sql = "SELECT run_id, key, last_value, last_step FROM series WHERE kind = 'scalar'"
        if conditions:
            sql += f" AND run_id IN (SELECT id FROM runs WHERE {' AND '.join(conditions)})"
        return list(map(LastValueRow._make, self._query(sql, args)))

    def projects(self) -> list[str]:
        return [r[0] for r in self._query("SELECT DISTINCT project FROM runs ORDER BY project")]

    def run_exists(self, run_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM runs WHERE id = ?", (run_id,)))

    def run_candidates(self, ref: str) -> list[str]:
        escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return [r[0] for r in self._query(
            "SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' OR name = ?", (escaped + "%", ref))]

    # -- series -------------------------------------------------------------------------------------
    def keys(self, run_id: str, kind: str | None = None) -> list[KeyRow]:
        sql = (
            "SELECT key, kind, count, first_step, last_step, last_value, min, max FROM series"
            " WHERE run_id = ?"
        )
        args: list[Any] = [run_id]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        return list(map(KeyRow._make, self._query(sql + " ORDER BY key, kind", args)))

    def _sid(self, run_id: str, key: str, kind: str) -> int | None:
        row = self._query(
            "SELECT id FROM series WHERE run_id = ? AND kind = ? AND key = ?", (run_id, kind, key)
        )
        return row[0][0] if row else None

    def series(self, run_id: str, key: str, start: int | None = None,
               end: int | None = None) -> Series:
        sid = self._sid(run_id, key, "scalar")
        if sid is None:
            return _no_series(key)
        try:
            steps, values, walls = read_points(self.conn, sid, start, end)
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None
        return Series(key, steps, values, walls)

    def reduced(self, run_id: str, key: str, buckets: int, start: int | None = None,
                end: int | None = None) -> ReducedSeries:
        sid = self._sid(run_id, key, "scalar")
        try:
            return reduce_series(self.conn, -1 if sid is None else sid, key, buckets, start, end)
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None

    def points_after(self, run_id: str, key: str, count: int) -> Series:
        sid = self._sid(run_id, key, "scalar")
        if sid is None:
            return _no_series(key)
        try:
            steps, values, walls = read_points_after(self.conn, sid, count)
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None
        return Series(key, steps, values, walls)

    def histograms(self, run_id: str, key: str, start: int | None = None,
                   end: int | None = None) -> list[HistogramPoint]:
        lo = INT64_MIN if start is None else start
        hi = INT64_MAX if end is None else end
        rows = art.series_rows(self._query, self._sid(run_id, key, "histogram"), "histograms",
                               art.HISTOGRAM_COLUMNS, "step, seq", "step >= ? AND step <= ?",
                               (lo, hi))
        return [art.histogram_point(row) for row in rows]

    def histograms_after(self, run_id: str, key: str, count: int) -> list[HistogramPoint]:
        rows = art.series_rows(self._query, self._sid(run_id, key, "histogram"), "histograms",
                               art.HISTOGRAM_COLUMNS, "seq", "seq >= ?", (count,))
        return [art.histogram_point(row) for row in rows]

    def texts(self, run_id: str, key: str) -> list[TextPoint]:
        rows = art.series_rows(self._query, self._sid(run_id, key, "text"), "texts",
                               art.TEXT_COLUMNS, "step, seq")
        return [art.text_point(r) for r in rows]

    def texts_after(self, run_id: str, key: str, count: int) -> list[TextPoint]:
        rows = art.series_rows(self._query, self._sid(run_id, key, "text"), "texts",
                               art.TEXT_COLUMNS, "seq", "seq >= ?", (count,))
        return [art.text_point(r) for r in rows]

    # -- images and console lines -------------------------------------------------------------------
    def image_keys(self, run_id: str) -> list[str]:
        return self._guard(lambda: images_sql.image_keys(self.conn, run_id))

    def image_steps(self, run_id: str, key: str) -> list[int]:
        sid = self._sid(run_id, key, "image")
        return [] if sid is None else self._guard(lambda: images_sql.image_steps(self.conn, sid))

    def image_at(self, run_id: str, key: str, step: int) -> ImagePoint | None:
        sid = self._sid(run_id, key, "image")
        if sid is None:
            return None
        return self._guard(lambda: images_sql.image_at(self.conn, sid, step))

    def images_after(self, run_id: str, key: str, count: int, limit: int) -> list[ImagePoint]:
        sid = self._sid(run_id, key, "image")
        if sid is None:
            return []
        return self._guard(lambda: images_sql.images_after(self.conn, sid, count, limit))

    def console_lines(self, run_id: str, *, after_seq: int | None = None,
                      stream: str | None = None, grep: str | None = None,
                      since_step: int | None = None, limit: int | None = None,
                      last: bool = False) -> list[LoggedLine]:
        rows = self._guard(lambda: console_sql.read_lines(
            self.conn, run_id, after_seq=after_seq, stream=stream, grep=grep,
            since_step=since_step, limit=limit, last=last))
        return [LoggedLine(int(seq), str(s), float(wall), None if step is None else int(step),
                           str(text)) for seq, s, wall, step, text in rows]

    def console_seq_at_step(self, run_id: str, step: int) -> int | None:
        return self._guard(lambda: console_sql.first_seq_at_step(self.conn, run_id, step))

    def counts(self, run_id: str) -> dict[tuple[str, str], int]:
        return self._guard(lambda: marks.counts(self.conn, run_id))

    def _guard(self, read: Callable[[], _T]) -> _T:
        try:
            return read()
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None

    # -- graphs and profiles ------------------------------------------------------------------------
    def graphs(self, run_id: str) -> list[GraphInfo]:
        return art.graphs(self._query, run_id)

    def graph(self, graph_id: int) -> Graph:
        return art.graph(self._query, graph_id)

    def profiles(self, run_id: str) -> list[ProfileInfo]:
        return art.profiles(self._query, run_id)

    def profile(self, profile_id: int, *, with_trace: bool = True) -> Profile:
        return art.profile(self._query, profile_id, with_trace)


def _no_series(key: str) -> Series:
    return Series(key, np.empty(0, dtype=np.int64), np.empty(0), np.empty(0))
