"""The rows of a run's records other than series points on PostgreSQL: console lines, graphs
with their nodes and edges, profiles with their ops and steps (new rows go in with COPY), and the
summary's JSON merge patch."""

from __future__ import annotations

import json
import time
import zlib
from typing import Any

from ...graph import Graph
from ...profile import Profile
from .copy_rows import copy_rows


def append_lines(conn: Any, run_id: str, lines: list[Any]) -> None:
    """Insert console lines (stream, wall, step, text) after the run's last stored one, numbered
    on from its seq. The caller's transaction holds the run's row locked (its heartbeat update),
    so two writers of one run number one after the other."""
    last = conn.execute("SELECT max(seq) FROM console_lines WHERE run_id = %s",
                        (run_id,)).fetchone()[0]
    first = 0 if last is None else int(last) + 1
    copy_rows(conn, "console_lines", _LINE_COLUMNS,
              [(run_id, first + i, stream, float(wall), step, text)
               for i, (stream, wall, step, text) in enumerate(lines)])


_LINE_COLUMNS = (("run_id", "text"), ("seq", "int8"), ("stream", "text"), ("wall", "float8"),
                 ("step", "int8"), ("text", "text"))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, as SQLite's json_patch: None removes a key."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _compress(raw: bytes | str | None) -> bytes | None:
    if raw is None:
        return None
    return zlib.compress(raw.encode("utf-8") if isinstance(raw, str) else bytes(raw), 6)


def write_graph(conn: Any, run_id: str, graph: Graph) -> int:
    gid = int(conn.execute(
        "INSERT INTO graphs (run_id, name, framework, source, created, node_count, edge_count,"
        " total_params, raw, raw_format, meta) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING id",
        (run_id, graph.name, graph.framework, graph.source, time.time(), len(graph.nodes),
         len(graph.edges), graph.total_params, _compress(graph.raw), graph.raw_format,
         json.dumps(graph.meta, default=str)),
    ).fetchone()[0])
    copy_rows(conn, "graph_nodes", _NODE_COLUMNS,
              [(gid, i, n.name, n.scope, n.op, n.kind, n.shape, n.dtype, int(n.params),
                json.dumps(n.attrs, default=str)) for i, n in enumerate(graph.nodes)])
    copy_rows(conn, "graph_edges", _EDGE_COLUMNS,
              [(gid, i, int(s), int(d)) for i, (s, d) in enumerate(graph.edges)])
    return gid


def write_profile(conn: Any, run_id: str, profile: Profile) -> int:
    pid = int(conn.execute(
        "INSERT INTO profiles (run_id, name, framework, created, step_from, step_to, duration_ns,"
        " trace, trace_format, trace_name, meta)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (run_id, profile.name, profile.framework, time.time(), profile.step_from,
         profile.step_to, profile.duration_ns, _compress(profile.trace), profile.trace_format,
         profile.trace_name, json.dumps(profile.meta, default=str)),
    ).fetchone()[0])
    copy_rows(conn, "profile_ops", _OP_COLUMNS,
              [(pid, o.name, o.category, int(o.calls), float(o.self_ns), float(o.total_ns),
                _float(o.device_self_ns), _float(o.device_total_ns), _int(o.cpu_mem),
                _int(o.device_mem), _float(o.flops), o.shapes, o.module) for o in profile.ops])
    copy_rows(conn, "profile_steps", _STEP_COLUMNS,
              [(pid, i, int(s), float(d)) for i, (s, d) in enumerate(profile.step_times_ns)])
    return pid


_NODE_COLUMNS = (("graph_id", "int8"), ("idx", "int4"), ("name", "text"), ("scope", "text"),
                 ("op", "text"), ("kind", "text"), ("shape", "text"), ("dtype", "text"),
                 ("params", "int8"), ("attrs", "text"))
_EDGE_COLUMNS = (("graph_id", "int8"), ("idx", "int4"), ("src", "int4"), ("dst", "int4"))
_OP_COLUMNS = (("profile_id", "int8"), ("name", "text"), ("category", "text"), ("calls", "int8"),
               ("self_ns", "float8"), ("total_ns", "float8"), ("device_self_ns", "float8"),
               ("device_total_ns", "float8"), ("cpu_mem", "int8"), ("device_mem", "int8"),
               ("flops", "float8"), ("shapes", "text"), ("module", "text"))
_STEP_COLUMNS = (("profile_id", "int8"), ("idx", "int4"), ("step", "int8"),
                 ("duration_ns", "float8"))


def _float(value: Any) -> float | None:
    """A value for a float8 column sent in binary (which takes no int)."""
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
