"""SQL that reads a run's histograms, texts, graphs and profiles back into plain records."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...errors import StoreError
from ...graph import Graph, GraphNode
from ...profile import Profile, ProfileOp
from ...records import Histogram, HistogramPoint, TextPoint
from ..backend import GraphInfo, ProfileInfo
from .blobs import inflate

Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
HISTOGRAM_COLUMNS = "step, wall, count, min, max, sum, sum_squares, edges, counts"
TEXT_COLUMNS = "step, wall, value"


def series_rows(query: Query, sid: int | None, table: str, columns: str, order: str,
                where: str = "", args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one histogram, text or image series (none when the run has no such key)."""
    if sid is None:
        return []
    condition = f" AND {where}" if where else ""
    return query(
        f"SELECT {columns} FROM {table} WHERE series_id = ?{condition} ORDER BY {order}",
        (sid, *args),
    )


def histogram_point(row: tuple[Any, ...]) -> HistogramPoint:
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


def text_point(row: tuple[Any, ...]) -> TextPoint:
    return TextPoint(*row)


def graphs(query: Query, run_id: str) -> list[GraphInfo]:
    rows = query(
        "SELECT id, run_id, name, framework, source, created, node_count, edge_count,"
        " total_params, raw_format FROM graphs WHERE run_id = ? ORDER BY id",
        (run_id,),
    )
    return [GraphInfo(*r) for r in rows]


def graph(query: Query, graph_id: int) -> Graph:
    head = query(
        "SELECT name, framework, source, raw, raw_format, meta FROM graphs WHERE id = ?",
        (graph_id,),
    )
    if not head:
        raise StoreError(f"no graph with id {graph_id}")
    name, framework, source, raw, raw_format, meta = head[0]
    nodes = [
        GraphNode(name=n, op=op, scope=scope, kind=kind, shape=shape, dtype=dtype,
                  params=params, attrs=json.loads(attrs))
        for n, scope, op, kind, shape, dtype, params, attrs in query(
            "SELECT name, scope, op, kind, shape, dtype, params, attrs FROM graph_nodes"
            " WHERE graph_id = ? ORDER BY idx",
            (graph_id,),
        )
    ]
    edges = [
        (s, d)
        for s, d in query(
            "SELECT src, dst FROM graph_edges WHERE graph_id = ? ORDER BY rowid", (graph_id,)
        )
    ]
    return Graph(
        nodes=nodes, edges=edges, name=name, framework=framework, source=source,
        raw=inflate(raw, f"graph {graph_id}'s raw form") if raw is not None else None,
        raw_format=raw_format,
        meta=json.loads(meta),
    )


def profiles(query: Query, run_id: str) -> list[ProfileInfo]:
    rows = query(
        "SELECT id, run_id, name, framework, created, step_from, step_to, duration_ns,"
        " trace_format, (SELECT count(*) FROM profile_ops WHERE profile_id = profiles.id)"
        " FROM profiles WHERE run_id = ? ORDER BY id",
        (run_id,),
    )
    return [ProfileInfo(*r) for r in rows]


def profile(query: Query, profile_id: int, with_trace: bool) -> Profile:
    head = query(
        "SELECT name, framework, step_from, step_to, duration_ns, trace_format, trace_name,"
        f" meta{', trace' if with_trace else ''} FROM profiles WHERE id = ?",
        (profile_id,),
    )
    if not head:
        raise StoreError(f"no profile with id {profile_id}")
    name, framework, step_from, step_to, duration, fmt, trace_name, meta, *trace = head[0]
    ops = [
        ProfileOp(*r)
        for r in query(
            "SELECT name, category, calls, self_ns, total_ns, device_self_ns, device_total_ns,"
            " cpu_mem, device_mem, flops, shapes, module FROM profile_ops WHERE profile_id = ?"
            " ORDER BY self_ns DESC",
            (profile_id,),
        )
    ]
    steps = query(
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
