"""``export_tensorboard``: runs from the store as TensorBoard run directories, incrementally.

Reads through ``tracker.open_store`` and writes event files with the own record writer; never
imports TensorFlow. Each export writes one new event file per run that has something new. Every
file goes through ``outdir`` (never through a link, complete or absent), and the state lists the
files each run got, so an export killed midway and run again writes each event once.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..format import flatten
from ..errors import TrackerError
from ..read import Reader, open_store
from ..records import RunInfo
from ..read import DamagedBlobError
from . import summaries
from .console import console_records, console_tag
from .encode import scalar_records
from .graphdef import to_graphdef
from .images import image_event
from .outdir import Folder, is_temp
from .paths import run_dir_name, safe_part
from .profiles import profile_file
from .records import RecordWriter, frame
from .state import STATE_FILE, export_lock, load_state, run_state, save_state

Progress = Callable[[int, int, str], None]


@dataclass
class ExportSummary:
    """What one export wrote."""

    out_dir: Path
    selected: int = 0  # runs the selection matched (0: none started since ``since``)
    runs: int = 0  # runs that got something new
    scalars: int = 0
    histograms: int = 0
    texts: int = 0
    images: int = 0
    graphs: int = 0
    profiles: int = 0
    console_lines: int = 0
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
    if os.path.lexists(out) and not out.is_dir():
        raise TrackerError(f"{out} exists and is not a folder; give a folder for the export")
    summary = ExportSummary(out)
    with open_store(db) as store:  # first, so a wrong --db leaves no empty folder behind
        infos = _select(store, runs, project, since)  # a selection error leaves none either
        summary.selected = len(infos)
        if not infos:
            return summary
        made = _make_folder(out)
        try:
            with Folder.open_root(out) as root, export_lock(root):
                _export_locked(store, root, summary, infos, quiet, progress, float64)
        except BaseException:
            if made:  # a failed first export leaves no folder behind
                _remove_made(out, made)
            raise
    return summary


def _make_folder(out: Path) -> list[Path]:
    """Create ``out`` and its missing parents; the folders this call made, ``out`` first (none
    when ``out`` was there already)."""
    missing = [p for p in (out, *out.parents) if not os.path.lexists(p)]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            out.mkdir()
        except FileExistsError:  # there already, or made meanwhile by another export
            return []
    except OSError as exc:
        raise TrackerError(f"cannot create the folder {out}: {exc.strerror}") from None
    return missing


def _remove_made(out: Path, made: list[Path]) -> None:
    """Remove what a failed export created, unless a run of it was finished (the state says so:
    the next export resumes from there)."""
    if os.path.lexists(out / STATE_FILE):
        return
    shutil.rmtree(out, ignore_errors=True)  # fd-based on POSIX: links inside are not followed
    for folder in made[1:]:
        try:
            folder.rmdir()
        except OSError:
            break


def _export_locked(
    store: Reader, root: Folder, summary: ExportSummary, infos: list[RunInfo], quiet: bool,
    progress: Progress | None, float64: bool,
) -> None:
    """The export itself, with the folder's lock held (the state is read under it)."""
    state = load_state(root)
    for name in root.names():
        if is_temp(name):  # a state file whose export was killed before its rename
            root.remove(name)
    bar, report = _progress(quiet, progress, len(infos))
    try:
        for done, info in enumerate(infos, 1):
            entry = run_state(state, info.id, run_dir_name(info.project, info.name, info.id))
            with root.sub(entry["dir"].split("/")) as folder:
                if _export_run(store, info, folder, entry, summary, float64):
                    summary.runs += 1
            save_state(root, state)  # after each run: an interrupted export loses little
            report(done, len(infos), info.name)
    finally:
        if bar is not None:
            bar.stop()


def _select(
    store: Reader, refs: Iterable[str] | None, project: str | None, since: Any
) -> list[RunInfo]:
    """The runs to export, oldest first; a selection that names nothing is an error."""
    start = parse_since(since) if since is not None else None
    if project is not None and project not in store.projects():
        raise TrackerError(f"project {project!r} has no runs; {_projects(store)}")
    ids = None if refs is None else [store.resolve(ref) for ref in refs]
    if ids is not None and not ids:
        raise TrackerError("no runs given; name runs by id, id prefix or name")
    infos = store.runs(project, ids=ids, last_values=False)
    if not infos:
        if ids:
            raise TrackerError(f"none of the runs given is in project {project!r}")
        raise TrackerError(f"{store.path} has no runs yet; log a run first")
    if start is not None:
        infos = [i for i in infos if i.started >= start]
    return sorted(infos, key=lambda i: (i.started, i.id))


def _projects(store: Reader) -> str:
    """The store's projects, for a message (names are data: repr escapes what is not printable)."""
    names = store.projects()
    if not names:
        return f"{store.path} has no runs yet"
    shown = ", ".join(repr(n) for n in names[:10])
    more = f" and {len(names) - 10} more" if len(names) > 10 else ""
    return f"the projects are {shown}{more} (see `tracker ls`)"


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
    store: Reader,
    info: RunInfo,
    folder: Folder,
    entry: dict[str, Any],
    summary: ExportSummary,
    float64: bool,
) -> bool:
    _forget_unknown(folder, entry)
    host = safe_part(info.host or socket.gethostname(), "localhost")  # where the run ran
    records: list[bytes] = []
    if not entry["hparams"]:
        event = summaries.hparams_event(flatten(info.config), entry["dir"], info.started)
        if event is not None:
            records.append(frame(event))
        entry["hparams"] = True
    records += _graphs(store, info, folder, entry, summary, host)
    tags, series = [], []
    images: list[Iterable[bytes]] = []  # read while written, after the rest
    for key in store.keys(info.id):
        new = _key_records(store, info.id, key.key, key.kind, key.count, entry, summary,
                           tags, series)
        if key.kind == "image":
            if new:  # a generator: there are new images
                images.append(new)
        else:
            records += new
    records += scalar_records(tags, series, float64=float64)
    records += _console(store, info.id, entry, summary)
    summary.scalars += sum(len(s[0]) for s in series)
    written = False
    if records or images:
        _write_events(folder, "", entry, entry, itertools.chain(records, *images), summary, host)
        written = True
    for prof in store.profiles(info.id):
        if prof.id in entry["profiles"]:
            continue
        try:
            profile = store.profile(prof.id)
        except DamagedBlobError as exc:  # left out (and tried again by the next export)
            summary.problems.append(f"run {info.id}: {exc}; left out")
            continue
        placed = profile_file(profile, prof.id, prof.created, entry["files"])
        entry["profiles"].append(prof.id)
        if placed is not None:
            relative, data = placed
            *parts, name = relative.split("/")
            with folder.sub(parts) as target:
                target.write_file(name, [data])
            entry["files"].append(relative)
            summary.profiles += 1
            summary.files.append(folder.path / relative)
            written = True
    return written


def _forget_unknown(folder: Folder, entry: dict[str, Any]) -> None:
    """Remove what an export killed midway left in a run's folder: temporary files, and event
    files the state does not list (its points were not counted as exported, so they are written
    again: TensorBoard must not read them twice)."""
    listed = "files" in entry  # not in a state from before files were listed: all there is counts
    known = set(entry.setdefault("files", []))
    for sub, names in folder.walk():
        prefix = _relative(sub, folder)
        for name in names:
            ours = name.startswith("events.out.tfevents.") and name.endswith(".tracker")
            if is_temp(name) or (listed and ours and prefix + name not in known):
                sub.remove(name)
            elif not listed:
                entry["files"].append(prefix + name)


def _relative(sub: Folder, folder: Folder) -> str:
    """'' for ``folder`` itself, else the path of ``sub`` below it with a trailing '/'."""
    rel = sub.path.relative_to(folder.path).as_posix()
    return "" if rel == "." else rel + "/"


def _key_records(
    store: Reader,
    run_id: str,
    key: str,
    kind: str,
    count: int,
    entry: dict[str, Any],
    summary: ExportSummary,
    tags: list[str],
    series: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> list[bytes] | Iterator[bytes]:
    """Framed records for the new points of one key (scalars are only collected here; images
    come as a generator that reads them as it goes)."""
    if kind not in ("scalar", "histogram", "text", "image"):
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
    elif kind == "image":
        return _image_records(store, run_id, key, done, entry, summary)
    return records


def _image_records(store: Reader, run_id: str, key: str, done: int, entry: dict[str, Any],
                   summary: ExportSummary) -> Iterator[bytes]:
    """The framed events of a key's new images, read a page at a time when written (a run's
    images can be far larger than memory)."""
    while True:
        points = store.images_after(run_id, key, done)
        if not points:
            return
        for p in points:
            yield frame(image_event(key, p.step, p.wall, p.image))
        done += len(points)
        entry["images"][key] = done
        summary.images += len(points)


def _console(store: Reader, run_id: str, entry: dict[str, Any], summary: ExportSummary) -> list[bytes]:
    """The run's new console lines as text chunks (tensorboard/console.py)."""
    done = entry.setdefault("console_lines", 0)
    tag = console_tag({k.key for k in store.keys(run_id, "text")})
    records, count = console_records(store, run_id, done, tag)
    entry["console_lines"] = done + count
    summary.console_lines += count
    return records


def _graphs(
    store: Reader, info: RunInfo, folder: Folder, entry: dict[str, Any], summary: ExportSummary,
    host: str,
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
            _write_events(folder, f"graph-{safe_part(g.name, 'graph')}-{g.id}", {"stamp": 0},
                          entry, own, summary, host)
        else:
            records += own
        entry["graphs"].append(g.id)
        summary.graphs += 1
    return records


def _write_events(
    folder: Folder, sub_run: str, stamps: dict[str, Any], entry: dict[str, Any],
    records: Iterable[bytes], summary: ExportSummary, host: str,
) -> None:
    """A new event file in ``folder`` (or its ``sub_run`` folder) whose name sorts after the ones
    written before; complete or absent, never half there. Listed in the run's ``files``."""
    stamp = max(int(time.time()), int(stamps.get("stamp", 0)) + 1)
    stamps["stamp"] = stamp
    name = f"events.out.tfevents.{stamp:010d}.{host}.{os.getpid()}.tracker"
    with folder.sub([sub_run] if sub_run else []) as target:
        temp, file = target.create_temp()
        try:
            writer = RecordWriter(file)
            writer.write(summaries.file_version(time.time()))
            for record in records:
                writer.write_framed(record)
            writer.close()
            target.rename(temp, name)
        except BaseException:
            file.close()
            target.remove(temp)
            raise
    entry["files"].append(f"{sub_run}/{name}" if sub_run else name)
    summary.files.append(target.path / name)


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
