"""SQL that stores neutral graphs and profiles (rare, larger records) for a run."""

from __future__ import annotations

import json
import sqlite3
import time
import zlib

from ...graph import Graph
from ...profile import Profile


def _compress(raw: bytes | str | None) -> bytes | None:
    if raw is None:
        return None
    data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    return zlib.compress(data, 6)


def write_graph(conn: sqlite3.Connection, run_id: str, graph: Graph) -> int:
    """Insert a graph with its nodes and edges; return its id."""
    cur = conn.execute(
        "INSERT INTO graphs (run_id, name, framework, source, created, node_count, edge_count,"
        " total_params, raw, raw_format, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            graph.name,
            graph.framework,
            graph.source,
            time.time(),
            len(graph.nodes),
            len(graph.edges),
            graph.total_params,
            _compress(graph.raw),
            graph.raw_format,
            json.dumps(graph.meta, default=str),
        ),
    )
    gid = int(cur.lastrowid)
    conn.executemany(
        "INSERT INTO graph_nodes (graph_id, idx, name, scope, op, kind, shape, dtype, params, attrs)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (gid, i, n.name, n.scope, n.op, n.kind, n.shape, n.dtype, int(n.params),
             json.dumps(n.attrs, default=str))
            for i, n in enumerate(graph.nodes)
        ],
    )
    conn.executemany(
        "INSERT INTO graph_edges (graph_id, src, dst) VALUES (?, ?, ?)",
        [(gid, int(s), int(d)) for s, d in graph.edges],
    )
    return gid


def write_profile(conn: sqlite3.Connection, run_id: str, profile: Profile) -> int:
    """Insert a profile with its op rows and step times; return its id."""
    cur = conn.execute(
        "INSERT INTO profiles (run_id, name, framework, created, step_from, step_to, duration_ns,"
        " trace, trace_format, trace_name, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            profile.name,
            profile.framework,
            time.time(),
            profile.step_from,
            profile.step_to,
            profile.duration_ns,
            _compress(profile.trace),
            profile.trace_format,
            profile.trace_name,
            json.dumps(profile.meta, default=str),
        ),
    )
    pid = int(cur.lastrowid)
    conn.executemany(
        "INSERT INTO profile_ops (profile_id, name, category, calls, self_ns, total_ns,"
        " device_self_ns, device_total_ns, cpu_mem, device_mem, flops, shapes, module)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (pid, o.name, o.category, int(o.calls), float(o.self_ns), float(o.total_ns),
             o.device_self_ns, o.device_total_ns, o.cpu_mem, o.device_mem, o.flops, o.shapes,
             o.module)
            for o in profile.ops
        ],
    )
    conn.executemany(
        "INSERT INTO profile_steps (profile_id, step, duration_ns) VALUES (?, ?, ?)",
        [(pid, int(s), float(d)) for s, d in profile.step_times_ns],
    )
    return pid
