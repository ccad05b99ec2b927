"""The read API used by the CLI, the app and the exporter: runs, keys, series, histograms, text,
images, graphs and profiles, plus the few edits a user makes to runs (rename, tag, note, delete).

Open it with ``tracker.open_store(db)``; each ``Store`` owns one read-only connection, so give
every thread its own ``Store``. Reading never changes the file; an edit opens a write connection
for itself alone.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from . import query_rows as rows_
from .errors import RunNotFoundError
from .paths import resolve_db_path
from .query_artifacts import ArtifactReads, GraphInfo, ProfileInfo
from .query_console import ConsoleReads, LoggedLine
from .query_edits import RunEdits
from .query_images import ImageReads
from .records import INTERNAL_SUMMARY_KEY, KeyInfo, ReducedSeries, RunInfo, Series
from .refs import check_run_ref
from .store import connect_readonly, describe_error
from .store.chunks import read_points, read_points_after
from .store.reduce import reduce_series

__all__ = ["GraphInfo", "LoggedLine", "ProfileInfo", "Store", "common_keys", "open_store"]

STALE_AFTER_S = 60.0  # a running run whose heartbeat is older than this has crashed
_RUN_COLUMNS = (
    "id, project, name, group_name, status, config, tags, notes, host, pid, rank, world_size,"
    " started, ended, heartbeat, summary"
)


def open_store(db: str | os.PathLike[str] | None = None) -> Store:
    """Open an existing store for reading (default $TRACKER_DB, else ./tracker.db).

    Nothing about the file changes: a missing, foreign, older or newer file is a one-line
    StoreError (an older one names ``tracker migrate``); an empty file has no runs.
    """
    return Store(resolve_db_path(db))


class Store(ArtifactReads, ConsoleReads, ImageReads, RunEdits):
    """A read handle on one store file (one connection; not shared across threads)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.conn = connect_readonly(self.path)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None

    # -- runs -------------------------------------------------------------------------------------
    def runs(
        self,
        project: str | None = None,
        *,
        status: str | None = None,
        tag: str | None = None,
        group: str | None = None,
        ids: Iterable[str] | None = None,
        last_values: bool = True,
    ) -> list[RunInfo]:
        """Runs, newest first, with the last value of every scalar key.

        ``status`` filters on the shown status, so 'crashed' finds runs whose process died.
        """
        where, args = [], []
        if project is not None:
            where.append("project = ?")
            args.append(project)
        if group is not None:
            where.append("group_name = ?")
            args.append(group)
        if tag is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE value = ?)")
            args.append(tag)
        if ids is not None:
            id_list = list(ids)
            where.append(f"id IN ({','.join('?' * len(id_list))})")
            args.extend(id_list)
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._query(sql + " ORDER BY started DESC, id", args)
        last: dict[str, dict[str, float]] = {}
        steps: dict[str, int] = {}
        bad = {}
        if last_values and rows:
            series_sql = "SELECT run_id, key, last_value, last_step FROM series WHERE kind = 'scalar'"
            series_args: list[Any] = []
            if where:
                series_sql += f" AND run_id IN (SELECT id FROM runs WHERE {' AND '.join(where)})"
                series_args = args
            bad: dict[str, list[str]] = {}
            for run_id, key, value, step in self._query(series_sql, series_args):
                number = rows_.metric_value(value)
                if number is None or not (step is None or isinstance(step, int)):
                    bad.setdefault(run_id, []).append(rows_.text(key))
                    continue
                last.setdefault(run_id, {})[rows_.text(key)] = number
                if step is not None and step > steps.get(run_id, -(2**63)):
                    steps[run_id] = step
        now = time.time()
        host = socket.gethostname()
        infos = [
            _run_info(r, last.get(r[0], {}), steps.get(r[0]), bad.get(r[0]), now, host)
            for r in rows
        ]
        if status is not None:
            infos = [i for i in infos if i.status == status]
        return infos

    def run(self, ref: str) -> RunInfo:
        """One run by id, unique id prefix, or unique name.

        Raises:
            RunNotFoundError: nothing matches, or the prefix/name is ambiguous.
        """
        run_id = self.resolve(ref)
        return self.runs(ids=[run_id])[0]

    def resolve(self, ref: str) -> str:
        """The id of the run that ``ref`` (id, id prefix or name) names.

        Raises:
            RunNotFoundError: nothing matches, the prefix/name is ambiguous, or ``ref`` is blank
                (an empty prefix would match every run).
        """
        try:
            check_run_ref(ref)
        except ValueError as exc:
            raise RunNotFoundError(str(exc)) from None
        if self._query("SELECT 1 FROM runs WHERE id = ?", (ref,)):
            return ref
        escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        matches = self._query(
            "SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' OR name = ?", (escaped + "%", ref)
        )
        if len(matches) == 1:
            return matches[0][0]
        if not matches:
            raise RunNotFoundError(f"no run matches {ref!r}; see `tracker ls` for ids")
        ids = ", ".join(m[0] for m in matches[:5])
        raise RunNotFoundError(f"{ref!r} matches {len(matches)} runs ({ids}); give more of the id")

    def projects(self) -> list[str]:
        """Project names, sorted."""
        return [r[0] for r in self._query("SELECT DISTINCT project FROM runs ORDER BY project")]

    # -- keys and series --------------------------------------------------------------------------
    def keys(self, run_id: str, kind: str | None = None) -> list[KeyInfo]:
        """The keys a run logged (scalar, histogram, text), sorted by key."""
        sql = (
            "SELECT key, kind, count, first_step, last_step, last_value, min, max FROM series"
            " WHERE run_id = ?"
        )
        args: list[Any] = [run_id]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        return [_key_info(row) for row in self._query(sql + " ORDER BY key, kind", args)]

    def _sid(self, run_id: str, key: str, kind: str) -> int | None:
        row = self._query(
            "SELECT id FROM series WHERE run_id = ? AND kind = ? AND key = ?", (run_id, kind, key)
        )
        return row[0][0] if row else None

    def series(
        self, run_id: str, key: str, start: int | None = None, end: int | None = None
    ) -> Series:
        """Every point of a scalar key with step in [start, end] (an empty Series if none)."""
        sid = self._sid(run_id, key, "scalar")
        if sid is None:
            return Series(key, np.empty(0, dtype=np.int64), np.empty(0), np.empty(0))
        try:
            steps, values, walls = read_points(self.conn, sid, start, end)
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None
        return Series(key, steps, values, walls)

    def reduced(
        self,
        run_id: str,
        key: str,
        buckets: int,
        start: int | None = None,
        end: int | None = None,
    ) -> ReducedSeries:
        """A scalar key reduced to ``buckets`` min/max/mean buckets over [start, end]."""
        sid = self._sid(run_id, key, "scalar")
        try:
            if sid is None:
                return reduce_series(self.conn, -1, key, buckets, start, end)
            return reduce_series(self.conn, sid, key, buckets, start, end)
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None

    def points_after(self, run_id: str, key: str, count: int) -> Series:
        """Points logged after the first ``count`` ones (live tailing), in logging order."""
        sid = self._sid(run_id, key, "scalar")
        if sid is None:
            return Series(key, np.empty(0, dtype=np.int64), np.empty(0), np.empty(0))
        try:
            steps, values, walls = read_points_after(self.conn, sid, count)
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None
        return Series(key, steps, values, walls)


def common_keys(runs: Iterable[RunInfo]) -> list[str]:
    """Scalar keys ordered for display: logged by the most runs first, and among those, losses
    and accuracies before the many diagnostic keys a hook adds (grad norms, activation stats);
    system metrics (sys/...) after every metric the user logged."""
    counts: dict[str, int] = {}
    for run in runs:
        for key in run.last:
            counts[key] = counts.get(key, 0) + 1

    def rank(key: str) -> tuple:
        low = key.lower()
        return (key.startswith("sys/"), -counts[key], "loss" not in low, "acc" not in low,
                key.count("/"), key)

    return sorted(counts, key=rank)


def _run_info(
    row: tuple,
    last: dict[str, float],
    last_step: int | None,
    bad_keys: list[str] | None,
    now: float,
    host: str,
) -> RunInfo:
    """A run's row as a RunInfo; whatever in it is damaged is left empty and named in
    ``damaged`` (the row is never trusted: other programs and old bugs write stores too)."""
    (run_id, project, name, group, status, config, tags, notes, run_host, pid, rank, world_size,
     started, ended, heartbeat, summary) = row
    damage = rows_.Damage()
    started_s = rows_.number(started, "started", damage)
    ended_s = rows_.number(ended, "ended", damage)
    heartbeat_s = rows_.number(heartbeat, "heartbeat", damage)
    started_s = started_s if started_s is not None else (heartbeat_s or 0.0)
    heartbeat_s = heartbeat_s if heartbeat_s is not None else started_s
    pid_n = rows_.integer(pid, "pid", damage)
    status = rows_.text(status)
    run_host = rows_.optional_text(run_host)
    if status == "running" and _is_dead(run_host, pid_n, heartbeat_s, now, host):
        status = "crashed"
    user_summary = rows_.json_object(summary, "summary", damage)
    internal = user_summary.pop(INTERNAL_SUMMARY_KEY, None)  # tracker's bookkeeping, not shown
    info = RunInfo(
        id=rows_.text(run_id), project=rows_.text(project), name=rows_.text(name),
        group=rows_.optional_text(group), status=status,
        config=rows_.json_object(config, "config", damage),
        tags=rows_.json_strings(tags, "tags", damage), notes=rows_.optional_text(notes),
        host=run_host, pid=pid_n, rank=rows_.integer(rank, "rank", damage),
        world_size=rows_.integer(world_size, "world_size", damage), started=started_s,
        ended=ended_s, heartbeat=heartbeat_s,
        summary=user_summary, last=last, last_step=last_step,
        internal=internal if isinstance(internal, dict) else {},
    )
    for key in bad_keys or ():
        damage.add(f"the last value of {key!r} is not a number")
    notes_ = damage.text()
    return info if notes_ is None else replace(info, damaged=notes_)


def _key_info(row: tuple) -> KeyInfo:
    """A series row as a KeyInfo; a summary value that is not a number reads as missing."""
    key, kind, count, first, last, value, mn, mx = row
    kind = rows_.text(kind)
    ignore = rows_.Damage()
    count_n = rows_.integer(count, "count", ignore) or 0
    if kind == "scalar" and count_n:
        value = rows_.metric_value(value)
    elif not isinstance(value, (int, float)):
        value = None
    return KeyInfo(
        rows_.text(key), kind, count_n, rows_.integer(first, "first_step", ignore),
        rows_.integer(last, "last_step", ignore), value, _real(mn), _real(mx),
    )


def _real(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _is_dead(run_host: str | None, pid: int | None, heartbeat: float, now: float, host: str) -> bool:
    """A running run has crashed when its heartbeat is stale or, on this host, its pid is gone."""
    if now - heartbeat > STALE_AFTER_S:
        return True
    if run_host == host and pid:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False
