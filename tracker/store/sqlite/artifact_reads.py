"""Reads of a run's histograms, texts, graphs and profiles (a part of ``Store``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import StoreError
from .graph import Graph, GraphNode
from .profile import Profile, ProfileOp
from .records import Histogram, HistogramPoint, TextPoint
from .store.blobs import inflate


@dataclass(frozen=True)
class GraphInfo:
    """A stored graph, without its nodes."""

    id: int
    run_id: str
    name: str
    framework: str
    source: str
    created: float
    node_count: int
    edge_count: int
    total_params: int
    raw_format: str | None


@dataclass(frozen=True)
class ProfileInfo:
    """A stored profile, without its rows."""

    id: int
    run_id: str
    name: str
    framework: str
    created: float
    step_from: int | None
    step_to: int | None
    duration_ns: float | None
    trace_format: str | None
    op_count: int


class ArtifactReads:
    """Histogram, text, graph and profile reads; mixed into ``Store``."""

    conn: sqlite3.Connection
    path: Path

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        raise NotImplementedError

    def _sid(self, run_id: str, key: str, kind: str) -> int | None:
        raise NotImplementedError

    def histograms(
        self, run_id: str, key: str, start: int | None = None, end: int | None = None
    ) -> list[HistogramPoint]:
        """The histograms of a key, in step order."""
        lo, hi = -(2**63) if start is None else start, 2**63 - 1 if end is None else end
        rows = self._rows("histograms", _HISTOGRAM_COLUMNS, run_id, key, "step, seq",
                          "step >= ? AND step <= ?", (lo, hi))
        return [_histogram_point(row) for row in rows]

    def histograms_after(self, run_id: str, key: str, count: int) -> list[HistogramPoint]:
        """The histograms logged after the first ``count`` ones, in logging order (an
        incremental reader's next batch: a later one at an earlier step is not missed)."""
        rows = self._rows("histograms", _HISTOGRAM_COLUMNS, run_id, key, "seq", "seq >= ?",
                          (count,))
        return [_histogram_point(row) for row in rows]

    def texts(self, run_id: str, key: str) -> list[TextPoint]:
        """The texts of a key, in step order."""
        rows = self._rows("texts", "step, wall, value", run_id, key, "step, seq")
        return [TextPoint(*r) for r in rows]

    def texts_after(self, run_id: str, key: str, count: int) -> list[TextPoint]:
        """The texts logged after the first ``count`` ones, in logging order."""
        rows = self._rows("texts", "step, wall, value", run_id, key, "seq", "seq >= ?", (count,))
        return [TextPoint(*r) for r in rows]

    def _rows(self, table: str, columns: str, run_id: str, key: str, order: str,
              where: str = "", args: tuple = ()) -> list[tuple]:
        """Rows of one histogram or text series (none when the run has no such key)."""
        sid = self._sid(run_id, key, table[:-1])  # 'histograms' -> kind 'histogram'
        if sid is None:
            return []
        condition = f" AND {where}" if where else ""
        return self._query(
            f"SELECT {columns} FROM {table} WHERE series_id = ?{condition} ORDER BY {order}",
            (sid, *args),
        )

    def graphs(self, run_id: str) -> list[GraphInfo]:
        """The graphs stored with a run, oldest first."""
        rows = self._query(
            "SELECT id, run_id, name, framework, source, created, node_count, edge_count,"
            " total_params, raw_format FROM graphs WHERE run_id = ? ORDER BY id",
            (run_id,),
        )
        return [GraphInfo(*r) for r in rows]

    def graph(self, graph_id: int) -> Graph:
        """One graph with its nodes, edges and raw form."""
        head = self._query(
            "SELECT name, framework, source, raw, raw_format, meta FROM graphs WHERE id = ?",
            (graph_id,),
        )
        if not head:
            raise StoreError(f"no graph with id {graph_id}")
        name, framework, source, raw, raw_format, meta = head[0]
        nodes = [
            GraphNode(name=n, op=op, scope=scope, kind=kind, shape=shape, dtype=dtype,
                      params=params, attrs=json.loads(attrs))
            for n, scope, op, kind, shape, dtype, params, attrs in self._query(
                "SELECT name, scope, op, kind, shape, dtype, params, attrs FROM graph_nodes"
                " WHERE graph_id = ? ORDER BY idx",
                (graph_id,),
            )
        ]
        edges = [
            (s, d)
            for s, d in self._query(
                "SELECT src, dst FROM graph_edges WHERE graph_id = ? ORDER BY rowid", (graph_id,)
            )
        ]
        return Graph(
            nodes=nodes, edges=edges, name=name, framework=framework, source=source,
            raw=inflate(raw, f"graph {graph_id}'s raw form") if raw is not None else None,
            raw_format=raw_format,
            meta=json.loads(meta),
        )

    def profiles(self, run_id: str) -> list[ProfileInfo]:
        """The profiles stored with a run, oldest first."""
        rows = self._query(
            "SELECT id, run_id, name, framework, created, step_from, step_to, duration_ns,"
            " trace_format, (SELECT count(*) FROM profile_ops WHERE profile_id = profiles.id)"
            " FROM profiles WHERE run_id = ? ORDER BY id",
            (run_id,),
        )
        return [ProfileInfo(*r) for r in rows]

    def profile(self, profile_id: int, *, with_trace: bool = True) -> Profile:
        """One profile with its op rows, step times and (optionally) the raw trace."""
        head = self._query(
            "SELECT name, framework, step_from, step_to, duration_ns, trace_format, trace_name,"
            f" meta{', trace' if with_trace else ''} FROM profiles WHERE id = ?",
            (profile_id,),
        )
        if not head:
            raise StoreError(f"no profile with id {profile_id}")
        name, framework, step_from, step_to, duration, fmt, trace_name, meta, *trace = head[0]
        ops = [
            ProfileOp(*r)
            for r in self._query(
                "SELECT name, category, calls, self_ns, total_ns, device_self_ns, device_total_ns,"
                " cpu_mem, device_mem, flops, shapes, module FROM profile_ops WHERE profile_id = ?"
                " ORDER BY self_ns DESC",
                (profile_id,),
            )
        ]
        steps = self._query(
            "SELECT step, duration_ns FROM profile_steps WHERE profile_id = ? ORDER BY rowid",
            (profile_id,),
        )
        raw = trace[0] if trace else None
        return Profile(
            ops=ops, step_times_ns=[(s, d) for s, d in steps], name=name, framework=framework,
            step_from=step_from, step_to=step_to, duration_ns=duration,
            trace=inflate(raw, f"profile {profile_id}'s trace") if raw is not None else None,
            trace_format=fmt,
            trace_name=trace_name, meta=json.loads(meta),
        )

def nan_if_null(value: float | None) -> float:
    """SQLite stores NaN as NULL: read it back as NaN."""
    return float("nan") if value is None else value


_HISTOGRAM_COLUMNS = "step, wall, count, min, max, sum, sum_squares, edges, counts"


def _histogram_point(row: tuple) -> HistogramPoint:
    step, wall, count, mn, mx, sm, sq, edges, counts = row
    return HistogramPoint(
        step,
        wall,
        Histogram(
            edges=np.array(json.loads(edges), dtype=np.float64),
            counts=np.array(json.loads(counts), dtype=np.float64),
            min=nan_if_null(mn),
            max=nan_if_null(mx),
            sum=nan_if_null(sm),
            sum_squares=nan_if_null(sq),
            count=count,
        ),
    )
