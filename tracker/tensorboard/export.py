"""``export_tensorboard``: runs from the store as TensorBoard run directories, incrementally.

Reads through ``tracker.open_store`` and writes event files with the own record writer; never
imports TensorFlow. Each export writes one new event file per run that has something new.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..config import flatten
from ..errors import TrackerError
from ..query import Store, open_store
from ..records import RunInfo
from ..store.blobs import DamagedBlobError
from . import summaries
from .encode import scalar_records
from .graphdef import to_graphdef
from .paths import inside, run_dir_name, safe_part
from .profiles import write_profile
from .records import RecordWriter, frame
from .state import export_lock, load_state, run_state, save_state

Progress = Callable[[int, int, str], None]


@dataclass
class ExportSummary:
    """What one export wrote."""

    out_dir: Path
    runs: int = 0  # runs that got something new
    scalars: int = 0
    histograms: int = 0
    texts: int = 0
    graphs: int = 0
    profiles: int = 0
    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what was left out, one line each


def export_tensorboard(
    out_dir: str | os.PathLike[str],
    runs: Iterable[str] | None = None,
    *,
    db: str | os.PathLike[str] | None = None,
    project: str | None = None,
    since: str | float | datetime | None = None,
    quiet: bool = True,
    progress: Progress | None = None,
    float64: bool = False,
) -> ExportSummary:
    """Export runs to ``out_dir/<project>/<run name>-<id>/`` for ``tensorboard --logdir out_dir``.

    Args:
        out_dir: the TensorBoard logdir to write (created if missing).
        runs: run ids, id prefixes or names (default: every run, filtered by project/since).
        db: the store file (default $TRACKER_DB, else ./tracker.db).
        project: only runs of this project.
        since: only runs started at or after this time (unix seconds, datetime or ISO date).
        quiet: False shows a progress bar on stderr.
        progress: called as ``progress(done, total, run_name)`` after each run.
        float64: False (default) writes scalars as 32-bit ``simple_value``, the only scalar
            form TensorBoard's default (Rust) loader reads. True writes exact float64 scalar
            tensors, which ``EventAccumulator`` and ``tensorboard --load_fast=false`` read but
            the default loader silently skips.

    Running it again appends only what was logged since (state kept in ``out_dir``).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise TrackerError(f"{out} exists and is not a folder; give a folder for the export")
    summary = ExportSummary(out)
    with open_store(db) as store:  # first, so a wrong --db leaves no empty folder behind
        out.mkdir(parents=True, exist_ok=True)
        with export_lock(out):
            _export_locked(store, out, summary, runs, project, since, quiet, progress, float64)
    return summary


def _export_locked(
    store: Store, out: Path, summary: ExportSummary, runs: Iterable[str] | None,
    project: str | None, since: Any, quiet: bool, progress: Progress | None, float64: bool,
) -> None:
    """The export itself, with the folder's lock held (the state is read under it)."""
    state = load_state(out)
    infos = _select(store, runs, project, since)
    bar, report = _progress(quiet, progress, len(infos))
    try:
        for done, info in enumerate(infos, 1):
            entry = run_state(state, info.id, run_dir_name(info.project, info.name, info.id))
            if _export_run(store, info, out, entry, summary, float64):
                summary.runs += 1
            save_state(out, state)  # after each run: an interrupted export loses little
            report(done, len(infos), info.name)
    finally:
        if bar is not None:
            bar.stop()


def _select(
    store: Store, refs: Iterable[str] | None, project: str | None, since: Any
) -> list[RunInfo]:
    ids = None if refs is None else [store.resolve(ref) for ref in refs]
    infos = store.runs(project, ids=ids, last_values=False)
    if since is not None:
        start = parse_since(since)
        infos = [i for i in infos if i.started >= start]
    return sorted(infos, key=lambda i: (i.started, i.id))


def parse_since(since: str | float | datetime) -> float:
    """Unix seconds from a number, a datetime or an ISO date/time text (local time)."""
    if isinstance(since, datetime):
        return since.timestamp()
    if isinstance(since, (int, float)):
        return float(since)
    try:
        return datetime.fromisoformat(str(since).strip()).timestamp()
    except ValueError:
        raise TrackerError(
            f"--since {since!r} is not a date; use e.g. 2026-01-31 or '2026-01-31 14:00'"
        ) from None


def _export_run(
    store: Store,
    info: RunInfo,
    out: Path,
    entry: dict[str, Any],
    summary: ExportSummary,
    float64: bool,
) -> bool:
    run_dir = inside(out, entry["dir"])
    records: list[bytes] = []
    if not entry["hparams"]:
        event = summaries.hparams_event(flatten(info.config), entry["dir"], info.started)
        if event is not None:
            records.append(frame(event))
        entry["hparams"] = True
    records += _graphs(store, info, run_dir, entry, summary)
    tags, series = [], []
    for key in store.keys(info.id):
        records += _key_records(store, info.id, key.key, key.kind, key.count, entry, summary,
                                tags, series)
    records += scalar_records(tags, series, float64=float64)
    summary.scalars += sum(len(s[0]) for s in series)
    written = False
    if records:
        _write_file(run_dir, entry, records, summary)
        written = True
    for prof in store.profiles(info.id):
        if prof.id in entry["profiles"]:
            continue
        try:
            profile = store.profile(prof.id)
        except DamagedBlobError as exc:  # left out (and tried again by the next export)
            summary.problems.append(f"run {info.id}: {exc}; left out")
            continue
        path = write_profile(run_dir, profile, prof.id, prof.created)
        entry["profiles"].append(prof.id)
        if path is not None:
            summary.profiles += 1
            summary.files.append(path)
            written = True
    return written


def _key_records(
    store: Store,
    run_id: str,
    key: str,
    kind: str,
    count: int,
    entry: dict[str, Any],
    summary: ExportSummary,
    tags: list[str],
    series: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> list[bytes]:
    """Framed records for the new points of one key (scalars are only collected here)."""
    if kind not in ("scalar", "histogram", "text"):
        return []
    done = entry[kind + "s"].get(key, 0)
    if count <= done:
        return []
    records = []
    if kind == "scalar":
        s = store.series(run_id, key) if done == 0 else store.points_after(run_id, key, done)
        tags.append(key)
        series.append((s.steps, s.values, s.walls))
        entry["scalars"][key] = done + len(s)
    elif kind == "histogram":
        points = store.histograms_after(run_id, key, done)  # logging order: none missed
        records = [frame(summaries.histogram_event(key, p.step, p.wall, p.histogram))
                   for p in points]
        entry["histograms"][key] = done + len(points)
        summary.histograms += len(points)
    elif kind == "text":
        texts = store.texts_after(run_id, key, done)
        records = [frame(summaries.text_event(key, t.step, t.wall, t.text)) for t in texts]
        entry["texts"][key] = done + len(texts)
        summary.texts += len(texts)
    return records


def _graphs(
    store: Store, info: RunInfo, run_dir: Path, entry: dict[str, Any], summary: ExportSummary
) -> list[bytes]:
    """The first graph goes into the run's own file; later ones into sub-runs of their own."""
    records: list[bytes] = []
    for g in store.graphs(info.id):
        if g.id in entry["graphs"]:
            continue
        try:
            graph = store.graph(g.id)
        except DamagedBlobError as exc:  # left out (and tried again by the next export)
            summary.problems.append(f"run {info.id}: {exc}; left out")
            continue
        own = [frame(summaries.graph_event(to_graphdef(graph), g.created))]
        if graph.raw_format == "keras_json" and graph.raw:
            raw = graph.raw if isinstance(graph.raw, str) else graph.raw.decode("utf-8", "replace")
            own.append(frame(summaries.keras_model_event(raw, g.created)))
        if entry["graphs"]:
            sub = {"stamp": 0}
            _write_file(run_dir / f"graph-{safe_part(g.name, 'graph')}-{g.id}", sub, own, summary)
        else:
            records += own
        entry["graphs"].append(g.id)
        summary.graphs += 1
    return records


def _write_file(
    folder: Path, entry: dict[str, Any], records: list[bytes], summary: ExportSummary
) -> None:
    """A new event file in ``folder`` whose name sorts after the ones written before."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = max(int(time.time()), int(entry.get("stamp", 0)) + 1)
    entry["stamp"] = stamp
    host = safe_part(socket.gethostname(), "localhost")
    path = folder / f"events.out.tfevents.{stamp:010d}.{host}.{os.getpid()}.tracker"
    writer = RecordWriter(path)
    try:
        writer.write(summaries.file_version(time.time()))
        for record in records:
            writer.write_framed(record)
    finally:
        writer.close()
    summary.files.append(path)


def _progress(quiet: bool, progress: Progress | None, total: int) -> tuple[Any, Progress]:
    if progress is not None or quiet or total == 0:
        return None, progress or (lambda done, total, name: None)
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
    from rich.progress import Progress as Bar

    console = Console(stderr=True)
    if not console.is_terminal:  # a log file or a pipe gets no bar (not even its blank line)
        return None, lambda done, total, name: None
    bar = Bar(TextColumn("export"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
              console=console, transient=True)
    task = bar.add_task("", total=total)
    bar.start()

    def report(done: int, total: int, name: str) -> None:
        shown = "".join(c if c.isprintable() else "?" for c in name)  # run names are data
        bar.update(task, completed=done, description=escape(shown))

    return bar, report
