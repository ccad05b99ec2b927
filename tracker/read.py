"""The read API used by the CLI, the app and the exporter: runs, keys, series, histograms, text,
images, console lines, graphs and profiles, plus the few edits a user makes to runs (rename, tag,
note, delete).

Open it with ``tracker.open_store(db)``; each ``Reader`` owns one read handle on the store's
backend (``tracker.store.open_backend``), so give every thread its own ``Reader``. Reading never
changes the store; an edit opens a write handle for itself alone. No SQL here: the backend returns
rows as stored, and this module judges them (damaged fields, crashed runs, ambiguous refs).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from . import read_rows as rows_
from .errors import RunNotFoundError
from .paths import resolve_db_path
from .records import (
    INTERNAL_SUMMARY_KEY,
    EncodedImage,
    ImagePoint,
    KeyInfo,
    LoggedLine,
    ReducedSeries,
    RunInfo,
    Series,
)
from .refs import check_run_ref
from .store import open_backend
from .store.backend import (
    DamagedBlobError,
    GraphInfo,
    KeyRow,
    LastValueRow,
    ProfileInfo,
    RunFilter,
    RunRow,
    WriteBackend,
)

__all__ = [
    "DamagedBlobError", "GraphInfo", "LoggedLine", "ProfileInfo", "Reader", "common_keys",
    "open_store",
]

EXPORT_PAGE = 64  # images read at a time by ``images_after`` callers that page (the exporter)
STREAMS = ("stdout", "stderr")

STALE_AFTER_S = 60.0  # a running run whose heartbeat is older than this has crashed


def open_store(db: str | os.PathLike[str] | None = None) -> Reader:
    """Open an existing store for reading (default $TRACKER_DB, else ./tracker.db).

    Nothing about the store changes: a missing, foreign, older or newer file is a one-line
    StoreError (an older one names ``tracker migrate``); an empty file has no runs.
    """
    return Reader(resolve_db_path(db))


class Reader:
    """A read handle on one store (one backend handle; not shared across threads)."""

    def __init__(self, location: str | os.PathLike[str]) -> None:
        self.location = location
        self.backend = open_backend(location, mode="read")

    @property
    def path(self) -> Any:
        """The store's location (a path for a file store)."""
        return self.location

    def close(self) -> None:
        """Let the read handle go."""
        self.backend.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        where = RunFilter(project=project, group=group, tag=tag,
                          ids=None if ids is None else tuple(ids))
        rows = self.backend.runs(where)
        last: dict[str, dict[str, float]] = {}
        steps: dict[str, int] = {}
        bad: dict[str, list[str]] = {}
        if last_values and rows:
            _fold_last_values(self.backend.last_values(where), last, steps, bad)
        now = time.time()
        host = socket.gethostname()
        infos = [
            _run_info(r, last.get(r.id, {}), steps.get(r.id), bad.get(r.id), now, host)
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
        if self.backend.run_exists(ref):
            return ref
        matches = self.backend.run_candidates(ref)
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise RunNotFoundError(f"no run matches {ref!r}; see `tracker ls` for ids")
        ids = ", ".join(matches[:5])
        raise RunNotFoundError(f"{ref!r} matches {len(matches)} runs ({ids}); give more of the id")

    def projects(self) -> list[str]:
        """Project names, sorted."""
        return self.backend.projects()

    # -- keys and series --------------------------------------------------------------------------
    def keys(self, run_id: str, kind: str | None = None) -> list[KeyInfo]:
        """The keys a run logged (scalar, histogram, text, image), sorted by key."""
        return [_key_info(row) for row in self.backend.keys(run_id, kind)]

    def series(
        self, run_id: str, key: str, start: int | None = None, end: int | None = None
    ) -> Series:
        """Every point of a scalar key with step in [start, end] (an empty Series if none)."""
        return self.backend.series(run_id, key, start, end)

    def reduced(
        self,
        run_id: str,
        key: str,
        buckets: int,
        start: int | None = None,
        end: int | None = None,
    ) -> ReducedSeries:
        """A scalar key reduced to ``buckets`` min/max/mean buckets over [start, end]."""
        return self.backend.reduced(run_id, key, buckets, start, end)

    def points_after(self, run_id: str, key: str, count: int) -> Series:
        """Points logged after the first ``count`` ones (live tailing), in logging order."""
        return self.backend.points_after(run_id, key, count)

    # -- histograms, texts, images, console lines, graphs, profiles -------------------------------
    def histograms(self, run_id: str, key: str, start: int | None = None,
                   end: int | None = None) -> list[Any]:
        """The histograms of a key, in step order."""
        return self.backend.histograms(run_id, key, start, end)

    def histograms_after(self, run_id: str, key: str, count: int) -> list[Any]:
        """The histograms logged after the first ``count`` ones, in logging order (an
        incremental reader's next batch: a later one at an earlier step is not missed)."""
        return self.backend.histograms_after(run_id, key, count)

    def texts(self, run_id: str, key: str) -> list[Any]:
        """The texts of a key, in step order."""
        return self.backend.texts(run_id, key)

    def texts_after(self, run_id: str, key: str, count: int) -> list[Any]:
        """The texts logged after the first ``count`` ones, in logging order."""
        return self.backend.texts_after(run_id, key, count)

    def image_keys(self, run_id: str) -> list[str]:
        """The run's image keys, sorted."""
        return self.backend.image_keys(run_id)

    def image_steps(self, run_id: str, key: str) -> list[int]:
        """The steps ``key`` has an image at, ascending (none when the run has no such key)."""
        return self.backend.image_steps(run_id, key)

    def image(self, run_id: str, key: str, step: int) -> EncodedImage | None:
        """The image of ``key`` at ``step`` (the last one logged there), or None."""
        point = self.image_point(run_id, key, step)
        return None if point is None else point.image

    def image_point(self, run_id: str, key: str, step: int) -> ImagePoint | None:
        """``image`` with its step and wall time."""
        return self.backend.image_at(run_id, key, step)

    def images_after(self, run_id: str, key: str, count: int,
                     limit: int = EXPORT_PAGE) -> list[ImagePoint]:
        """Up to ``limit`` images logged after the first ``count`` ones, in logging order."""
        return self.backend.images_after(run_id, key, count, limit)

    def console_lines(
        self,
        run_id: str,
        *,
        after: int | None = None,
        stream: str | None = None,
        grep: str | None = None,
        since_step: int | None = None,
        limit: int | None = None,
        last: bool = False,
    ) -> list[LoggedLine]:
        """A run's console lines in the order they were printed.

        ``after``: only lines with a larger ``seq`` (a follower's position); ``stream``: 'stdout'
        or 'stderr'; ``grep``: lines that contain this text (case-sensitive, literal);
        ``since_step``: lines printed at that step or later; ``limit``: the first that many,
        or with ``last=True`` the last that many.
        """
        if stream is not None and stream not in STREAMS:
            raise ValueError(f"stream must be 'stdout' or 'stderr', not {stream!r}")
        return self.backend.console_lines(run_id, after_seq=after, stream=stream, grep=grep,
                                          since_step=since_step, limit=limit, last=last)

    def console_seq_at_step(self, run_id: str, step: int) -> int | None:
        """The ``seq`` of the run's first line printed at ``step`` or later (None: none was)."""
        return self.backend.console_seq_at_step(run_id, step)

    def graphs(self, run_id: str) -> list[GraphInfo]:
        """The graphs stored with a run, oldest first."""
        return self.backend.graphs(run_id)

    def graph(self, graph_id: int) -> Any:
        """One graph with its nodes, edges and raw form."""
        return self.backend.graph(graph_id)

    def profiles(self, run_id: str) -> list[ProfileInfo]:
        """The profiles stored with a run, oldest first."""
        return self.backend.profiles(run_id)

    def profile(self, profile_id: int, *, with_trace: bool = True) -> Any:
        """One profile with its op rows, step times and (optionally) the raw trace."""
        return self.backend.profile(profile_id, with_trace=with_trace)

    # -- edits: each on a write handle opened for it alone -----------------------------------------
    @contextmanager
    def _editing(self) -> Iterator[WriteBackend]:
        """A write handle for one edit (a StoreError if the store is gone, read-only, older or
        newer than this tracker: an edit never creates or migrates a store)."""
        backend = open_backend(self.location, mode="write", for_run=False)
        try:
            yield backend
        finally:
            backend.close(healthy=False)

    def rename_run(self, run_id: str, name: str) -> None:
        """Give a run a new name."""
        if not name.strip():
            raise ValueError("a run name cannot be empty")
        with self._editing() as backend:
            backend.rename_run(run_id, name)

    def set_tags(self, run_id: str, tags: list[str]) -> None:
        """Replace a run's tags."""
        with self._editing() as backend:
            backend.set_tags(run_id, list(tags))

    def set_notes(self, run_id: str, notes: str | None) -> None:
        """Replace a run's notes."""
        with self._editing() as backend:
            backend.set_notes(run_id, notes)

    def set_run_times(
        self, run_id: str, started: float | None = None, ended: float | None = None
    ) -> None:
        """Set a run's start and/or end time (importers take them from the imported events)."""
        with self._editing() as backend:
            backend.set_run_times(run_id, started, ended)

    def set_run_host(self, run_id: str, host: str | None) -> None:
        """Set the host a run ran on and clear its pid (importers: the source's host, or None;
        no process here is the run's)."""
        with self._editing() as backend:
            backend.set_run_host(run_id, host)

    def delete_runs(self, run_ids: Iterable[str]) -> int:
        """Delete runs and everything they logged; return how many runs were deleted."""
        ids = list(run_ids)
        if not ids:
            return 0
        with self._editing() as backend:
            return backend.delete_runs(ids)


def is_system_key(key: str) -> bool:
    """Whether ``key`` is a system metric (``sys/gpu0/util_percent``, logged by the run's sampler):
    shown in the System tab, after the user's own metrics, never as a default column."""
    return key.startswith("sys/")


def common_keys(runs: Iterable[RunInfo]) -> list[str]:
    """Scalar keys ordered for display: logged by the most runs first, and among those, losses
    and accuracies before the many diagnostic keys a hook adds (grad norms, activation stats);
    system metrics (sys/...) after every metric the user logged."""
    counts: dict[str, int] = {}
    for run in runs:
        for key in run.last:
            counts[key] = counts.get(key, 0) + 1

    def rank(key: str) -> tuple[Any, ...]:
        low = key.lower()
        return (is_system_key(key), -counts[key], "loss" not in low, "acc" not in low,
                key.count("/"), key)

    return sorted(counts, key=rank)


def _fold_last_values(rows: Iterable[LastValueRow], last: dict[str, dict[str, float]],
                      steps: dict[str, int], bad: dict[str, list[str]]) -> None:
    """Each run's last value per scalar key, its highest last step, and its keys whose last value
    is not a number (into ``last``, ``steps`` and ``bad``)."""
    # A sound row (a float value, a str key) takes the short way: 30,000 of them (10,000 runs)
    # are a noticeable part of the app's first paint.
    for run_id, key, value, step in rows:
        number = value if type(value) is float else rows_.metric_value(value)
        if number is None or not (step is None or isinstance(step, int)):
            bad.setdefault(run_id, []).append(rows_.text(key))
            continue
        per_run = last.get(run_id)
        if per_run is None:
            per_run = last[run_id] = {}
        per_run[key if type(key) is str else rows_.text(key)] = number
        if step is not None and step > steps.get(run_id, -(2**63)):
            steps[run_id] = step


def _run_info(
    row: RunRow,
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


def _key_info(row: KeyRow) -> KeyInfo:
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
