"""The PostgreSQL read handle (see backend.py). Its session is read-only, so a role that may only
SELECT can read; runs' heartbeats come back in this host's clock (the server's clock wrote them)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from ...errors import StoreError
from ...graph import Graph, GraphNode
from ...profile import Profile, ProfileOp
from ...records import (
    EncodedImage,
    Histogram,
    HistogramPoint,
    ImagePoint,
    LoggedLine,
    ReducedSeries,
    Series,
    TextPoint,
)
from ...urls import ServerURL
from ..backend import GraphInfo, KeyRow, LastValueRow, ProfileInfo, RunFilter, RunRow
from ..sqlite import marks
from ..sqlite.blobs import inflate
from ..sqlite.chunks import read_points, read_points_after
from ..sqlite.reduce import reduce_series
from .connection import QmarkCursor, connect, describe, psycopg

_RUN_COLUMNS_LOCAL_HEARTBEAT = (
    "id, project, name, group_name, status, config, tags, notes, host, pid, rank, world_size,"
    " started, ended, heartbeat + (SELECT %s::float8 - extract(epoch from clock_timestamp())::float8),"
    " summary")
_C = 'COLLATE "C"'  # byte order, as SQLite sorts text


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


_T = TypeVar("_T")

class PostgresReadBackend:
    """One read handle on a PostgreSQL store; never writes."""

    def __init__(self, url: ServerURL) -> None:
        self.url = url
        self.location = str(url)
        self.conn: Any = connect(url, "read")

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        # Binary results: the same Python values, parsed in half the time of text (floats above
        # all: 10,000 runs' rows and their 30,000 last values come back ~2x faster).
        try:
            rows: list[tuple[Any, ...]] = self.conn.cursor(binary=True).execute(
                sql, tuple(args)).fetchall()
            return rows
        except psycopg.Error as exc:
            raise describe(exc, self.url, "cannot read") from None

    def _guard(self, work: Callable[[], _T]) -> _T:
        try:
            return work()
        except psycopg.Error as exc:
            raise describe(exc, self.url, "cannot read") from None

    # -- runs --------------------------------------------------------------------------------------
    def _where(self, where: RunFilter) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if where.project is not None:
            clauses.append("project = %s")
            args.append(where.project)
        if where.group is not None:
            clauses.append("group_name = %s")
            args.append(where.group)
        if where.ids is not None:
            clauses.append("id = ANY(%s)")
            args.append(list(where.ids))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def runs(self, where: RunFilter) -> list[RunRow]:
        clause, args = self._where(where)
        # The heartbeat into this host's clock on the server (the server's clock read once, an
        # InitPlan): the rows then need no Python pass of their own.
        rows = self._query(
            f"SELECT {_RUN_COLUMNS_LOCAL_HEARTBEAT} FROM runs{clause}"
            f" ORDER BY started DESC, id {_C}", [time.time(), *args])
        if where.tag is not None:
            rows = [r for r in rows if _has_tag(r[6], where.tag)]
        return list(map(RunRow._make, rows))

    def last_values(self, where: RunFilter) -> list[LastValueRow]:
        if where.tag is not None:
            where = RunFilter(ids=tuple(r.id for r in self.runs(where)))
        clause, args = self._where(where)
        sql = "SELECT run_id, key, last_value, last_step FROM series WHERE kind = 'scalar'"
        if clause:
            sql += f" AND run_id IN (SELECT id FROM runs{clause})"
        return [LastValueRow(*r) for r in self._query(sql, args)]

    def projects(self) -> list[str]:
        return [r[0] for r in self._query(f"SELECT DISTINCT project {_C} FROM runs ORDER BY 1")]

    def run_exists(self, run_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM runs WHERE id = %s", (run_id,)))

    def run_candidates(self, ref: str) -> list[str]:
        # SQLite's LIKE prefix match ignores ASCII case; starts_with needs no escaping
        return [r[0] for r in self._query(
            "SELECT id FROM runs WHERE starts_with(lower(id), lower(%s)) OR name = %s",
            (ref, ref))]

    # -- series ------------------------------------------------------------------------------------
    def _sid(self, run_id: str, key: str, kind: str) -> int | None:
        row = self._query("SELECT id FROM series WHERE run_id = %s AND kind = %s AND key = %s",
                          (run_id, kind, key))
        return int(row[0][0]) if row else None

    def keys(self, run_id: str, kind: str | None = None) -> list[KeyRow]:
        sql = ("SELECT key, kind, count, first_step, last_step, last_value, min, max FROM series"
               " WHERE run_id = %s")
        args: list[Any] = [run_id]
        if kind is not None:
            sql += " AND kind = %s"
            args.append(kind)
        return [KeyRow(*r) for r in self._query(sql + f" ORDER BY key {_C}, kind {_C}", args)]

    def series(self, run_id: str, key: str, start: int | None, end: int | None) -> Series:
        sid = self._sid(run_id, key, "scalar")
        if sid is None:
            return _no_series(key)
        steps, values, walls = self._guard(
            lambda: read_points(QmarkCursor(self.conn), sid, start, end))  # type: ignore[arg-type]
        return Series(key, steps, values, walls)

    def reduced(self, run_id: str, key: str, buckets: int, start: int | None,
                end: int | None) -> ReducedSeries:
        sid = self._sid(run_id, key, "scalar")
        return self._guard(lambda: reduce_series(
            QmarkCursor(self.conn), -1 if sid is None else sid, key, buckets, start, end))  # type: ignore[arg-type]

    def points_after(self, run_id: str, key: str, count: int) -> Series:
        sid = self._sid(run_id, key, "scalar")
        if sid is None:
            return _no_series(key)
        steps, values, walls = self._guard(
            lambda: read_points_after(QmarkCursor(self.conn), sid, count))  # type: ignore[arg-type]
        return Series(key, steps, values, walls)

    def _rows(self, table: str, kind: str, columns: str, run_id: str, key: str, order: str,
              where: str = "", args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        sid = self._sid(run_id, key, kind)
        if sid is None:
            return []
        condition = f" AND {where}" if where else ""
        return self._query(
            f"SELECT {columns} FROM {table} WHERE series_id = %s{condition} ORDER BY {order}",
            (sid, *args))

    def histograms(self, run_id: str, key: str, start: int | None,
                   end: int | None) -> list[HistogramPoint]:
        lo, hi = -(2**63) if start is None else start, 2**63 - 1 if end is None else end
        return [_histogram_point(r) for r in self._rows(
            "histograms", "histogram", _HISTOGRAM_COLUMNS, run_id, key, "step, seq",
            "step >= %s AND step <= %s", (lo, hi))]

    def histograms_after(self, run_id: str, key: str, count: int) -> list[HistogramPoint]:
        return [_histogram_point(r) for r in self._rows(
            "histograms", "histogram", _HISTOGRAM_COLUMNS, run_id, key, "seq", "seq >= %s",
            (count,))]

    def texts(self, run_id: str, key: str) -> list[TextPoint]:
        return [TextPoint(*r) for r in self._rows(
            "texts", "text", "step, wall, value", run_id, key, "step, seq")]

    def texts_after(self, run_id: str, key: str, count: int) -> list[TextPoint]:
        return [TextPoint(*r) for r in self._rows(
            "texts", "text", "step, wall, value", run_id, key, "seq", "seq >= %s", (count,))]

    # -- images and console lines ------------------------------------------------------------------
    def image_keys(self, run_id: str) -> list[str]:
        return [r[0] for r in self._query(
            f"SELECT key FROM series WHERE run_id = %s AND kind = 'image' ORDER BY key {_C}",
            (run_id,))]

    def image_steps(self, run_id: str, key: str) -> list[int]:
        sid = self._sid(run_id, key, "image")
        if sid is None:
            return []
        return [int(r[0]) for r in self._query(
            "SELECT DISTINCT step FROM images WHERE series_id = %s ORDER BY step", (sid,))]

    def image_at(self, run_id: str, key: str, step: int) -> ImagePoint | None:
        rows = self._rows("images", "image", _IMAGE_COLUMNS, run_id, key, "seq DESC LIMIT 1",
                          "step = %s", (step,))
        return _image_point(rows[0]) if rows else None

    def images_after(self, run_id: str, key: str, count: int, limit: int) -> list[ImagePoint]:
        rows = self._rows("images", "image", _IMAGE_COLUMNS, run_id, key, "seq LIMIT %s",
                          "seq >= %s", (count, max(0, int(limit))))
        return [_image_point(r) for r in rows]

    def console_lines(self, run_id: str, *, after_seq: int | None = None,
                      stream: str | None = None, grep: str | None = None,
                      since_step: int | None = None, limit: int | None = None,
                      last: bool = False) -> list[LoggedLine]:
        sql = "SELECT seq, stream, wall, step, text FROM console_lines WHERE run_id = %s"
        args: list[Any] = [run_id]
        if after_seq is not None:
            sql += " AND seq > %s"
            args.append(int(after_seq))
        if stream is not None:
            sql += " AND stream = %s"
            args.append(stream)
        if grep:
            sql += " AND strpos(text, %s) > 0"  # plain text, case-sensitive, no wildcards
            args.append(grep)
        if since_step is not None:
            sql += " AND step >= %s"
            args.append(int(since_step))
        sql += " ORDER BY seq DESC" if last else " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT %s"
            args.append(max(0, int(limit)))
        rows = self._query(sql, args)
        if last:
            rows.reverse()
        return [LoggedLine(int(seq), str(s), float(wall), None if step is None else int(step),
                           str(text)) for seq, s, wall, step, text in rows]

    def console_seq_at_step(self, run_id: str, step: int) -> int | None:
        row = self._query("SELECT min(seq) FROM console_lines WHERE run_id = %s AND step >= %s",
                          (run_id, int(step)))
        return None if row[0][0] is None else int(row[0][0])

    def counts(self, run_id: str) -> dict[tuple[str, str], int]:
        return self._guard(lambda: marks.counts(QmarkCursor(self.conn), run_id))

    # -- graphs and profiles -----------------------------------------------------------------------
    def graphs(self, run_id: str) -> list[GraphInfo]:
        return [GraphInfo(*r) for r in self._query(
            "SELECT id, run_id, name, framework, source, created, node_count, edge_count,"
            " total_params, raw_format FROM graphs WHERE run_id = %s ORDER BY id", (run_id,))]

    def graph(self, graph_id: int) -> Graph:
        head = self._query("SELECT name, framework, source, raw, raw_format, meta FROM graphs"
                           " WHERE id = %s", (graph_id,))
        if not head:
            raise StoreError(f"no graph with id {graph_id}")
        name, framework, source, raw, raw_format, meta = head[0]
        nodes = [
            GraphNode(name=n, op=op, scope=scope, kind=kind, shape=shape, dtype=dtype,
                      params=params, attrs=json.loads(attrs))
            for n, scope, op, kind, shape, dtype, params, attrs in self._query(
                "SELECT name, scope, op, kind, shape, dtype, params, attrs FROM graph_nodes"
                " WHERE graph_id = %s ORDER BY idx", (graph_id,))
        ]
        edges = [(s, d) for s, d in self._query(
            "SELECT src, dst FROM graph_edges WHERE graph_id = %s ORDER BY idx", (graph_id,))]
        return Graph(nodes=nodes, edges=edges, name=name, framework=framework, source=source,
                     raw=inflate(bytes(raw), f"graph {graph_id}'s raw form") if raw is not None
                     else None, raw_format=raw_format, meta=json.loads(meta))

    def profiles(self, run_id: str) -> list[ProfileInfo]:
        return [ProfileInfo(*r) for r in self._query(
            "SELECT id, run_id, name, framework, created, step_from, step_to, duration_ns,"
            " trace_format, (SELECT count(*) FROM profile_ops WHERE profile_id = profiles.id)"
            " FROM profiles WHERE run_id = %s ORDER BY id", (run_id,))]

    def profile(self, profile_id: int, *, with_trace: bool = True) -> Profile:
        head = self._query(
            "SELECT name, framework, step_from, step_to, duration_ns, trace_format, trace_name,"
            f" meta{', trace' if with_trace else ''} FROM profiles WHERE id = %s", (profile_id,))
        if not head:
            raise StoreError(f"no profile with id {profile_id}")
        name, framework, step_from, step_to, duration, fmt, trace_name, meta, *trace = head[0]
        ops = [ProfileOp(*r) for r in self._query(
            "SELECT name, category, calls, self_ns, total_ns, device_self_ns, device_total_ns,"
            " cpu_mem, device_mem, flops, shapes, module FROM profile_ops WHERE profile_id = %s"
            " ORDER BY self_ns DESC", (profile_id,))]
        steps = self._query("SELECT step, duration_ns FROM profile_steps WHERE profile_id = %s"
                            " ORDER BY idx", (profile_id,))
        raw = trace[0] if trace else None
        return Profile(
            ops=ops, step_times_ns=[(s, d) for s, d in steps], name=name, framework=framework,
            step_from=step_from, step_to=step_to, duration_ns=duration,
            trace=inflate(bytes(raw), f"profile {profile_id}'s trace") if raw is not None else None,
            trace_format=fmt, trace_name=trace_name, meta=json.loads(meta))


def _has_tag(tags: Any, tag: str) -> bool:
    try:
        parsed = json.loads(tags)
    except (TypeError, ValueError):
        return False
    return isinstance(parsed, list) and tag in parsed


def _no_series(key: str) -> Series:
    return Series(key, np.empty(0, dtype=np.int64), np.empty(0), np.empty(0))


_IMAGE_COLUMNS = "step, wall, format, width, height, caption, data"


def _image_point(row: tuple[Any, ...]) -> ImagePoint:
    step, wall, fmt, width, height, caption, data = row
    return ImagePoint(int(step), float(wall), EncodedImage(str(fmt), bytes(data), int(width),
                                                           int(height), caption))


_HISTOGRAM_COLUMNS = "step, wall, count, min, max, sum, sum_squares, edges, counts"


def _histogram_point(row: tuple[Any, ...]) -> HistogramPoint:
    step, wall, count, mn, mx, sm, sq, edges, counts = row
    return HistogramPoint(step, wall, Histogram(
        edges=np.array(json.loads(edges), dtype=np.float64),
        counts=np.array(json.loads(counts), dtype=np.float64),
        min=_nan(mn), max=_nan(mx), sum=_nan(sm), sum_squares=_nan(sq), count=count))
