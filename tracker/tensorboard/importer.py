"""``import_tensorboard``: a TensorBoard logdir into the store, one tracker run per TB run.

Each TB run directory (any nesting) becomes a run named by its path under the logdir; a folder
inside a run's folder that holds only graphs (the sub-runs export writes a run's later graphs to)
belongs to that run. Folders with nothing importable make no run. The run remembers, in tracker's
own bookkeeping (``INTERNAL_SUMMARY_KEY`` of its summary, which readers do not show), the source
folder and how far each event file was read, so importing the same logdir again appends only new
events (a file still being written is picked up where it stopped). A run's first import is
marked partial until it ends: one that fails is deleted, one that was killed is deleted and
redone by the next import. An imported run carries the host its event files name, and no pid.
Writes go through the core ``Run`` (``log_series`` keeps wall times); no TensorFlow is imported.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TrackerError
from ..paths import resolve_db_path
from ..read import open_store
from ..records import INTERNAL_SUMMARY_KEY
from ..run.run import Run
from ..run.values import MAX_KEY_LENGTH
from .graphdef import from_graphdef
from .reader import RunData, find_runs, read_run
from .records import RecordProblem

STATE_KEY = "tensorboard_import"  # the importer's entry in a run's internal bookkeeping
_LEGACY_KEY = "tensorboard_import"  # where earlier versions kept it: the user's summary itself
_EVENT_NAME = re.compile(r"events\.out\.tfevents\.\d+\.(.+)")
_NAME_SUFFIXES = {"v2", "tracker", "profile-empty"}  # parts writers add after host and pid
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass
class ImportSummary:
    """What one import read and stored."""

    runs: int = 0  # runs created or extended
    scalars: int = 0
    histograms: int = 0
    texts: int = 0
    images: int = 0
    graphs: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # unsupported summaries, by plugin
    problems: list[RecordProblem] = field(default_factory=list)  # bad or truncated records
    run_ids: list[str] = field(default_factory=list)


@dataclass
class _Imported:
    """A run an earlier import made."""

    run_id: str
    state: dict[str, Any]
    ended: float | None
    legacy: bool  # its state is still in the user's summary (moved out on this import)


def import_tensorboard(
    logdir: str | os.PathLike[str],
    *,
    db: str | os.PathLike[str] | None = None,
    project: str | None = None,
) -> ImportSummary:
    """Import every TensorBoard run under ``logdir`` into the store.

    Args:
        logdir: a folder holding ``events.out.tfevents.*`` files at any depth.
        db: the store file (default $TRACKER_DB, else ./tracker.db); created if missing.
        project: the project of the imported runs (default: the logdir's folder name).

    Truncated or corrupt records are listed in ``problems`` and skipped; importing the same logdir
    again adds only events that are new since.
    """
    root = Path(logdir).expanduser()
    if not root.is_dir():
        raise TrackerError(f"{root} is not a folder; give the TensorBoard logdir (--logdir)")
    root = root.resolve()
    project = project or root.name or "tensorboard"
    summary = ImportSummary()
    runs = find_runs(root, summary.problems)
    if not runs:
        raise TrackerError(f"no TensorBoard event files (events.out.tfevents.*) under {root}")
    db_path = resolve_db_path(db)
    known = _imported_runs(db_path, project)
    _drop_partial_runs(db_path, known)
    adopted = _read_graph_folders(root, runs, known, summary, db_path, project)
    for rel, files in runs.items():
        if rel in adopted.taken:
            continue
        previous = known.get(_source(root, rel))
        state = previous.state if previous else {}
        data = read_run(files, state.get("offsets", {}), summary.problems, state.get("plugins"),
                        images=True)
        names = [p.name for p in files]
        for prefix, child, child_files in adopted.by_parent.get(rel, []):
            data.adopt(child, prefix)
            names += [p.name for p in child_files]
        _import_run(db_path, project, root, rel, names, previous, data, summary)
    return summary


@dataclass
class _Adopted:
    """Graph-only folders read ahead of the run folder they belong to."""

    taken: set[str] = field(default_factory=set)  # their relative paths (no run of their own)
    by_parent: dict[str, list[tuple[str, RunData, list[Path]]]] = field(default_factory=dict)


def _read_graph_folders(
    root: Path, runs: dict[str, list[Path]], known: dict[str, _Imported], summary: ImportSummary,
    db_path: Path, project: str,
) -> _Adopted:
    """Read the run folders nested in another run's folder first: one with only graphs (or
    nothing) goes with that run; any other is imported as a run of its own right away."""
    adopted = _Adopted()
    for rel, files in runs.items():
        parent = _parent_run(rel, runs)
        if parent is None or _source(root, rel) in known:  # an earlier import made it a run
            continue
        prefix = rel if parent == "." else rel[len(parent) + 1:]
        parent_run = known.get(_source(root, parent))
        offsets = parent_run.state.get("offsets", {}) if parent_run else {}
        names = [f"{prefix}/{p.name}" for p in files]  # its files' keys in the parent's state
        data = read_run(files, {n: offsets[n] for n in names if n in offsets}, summary.problems,
                        names=names, images=True)
        adopted.taken.add(rel)
        if data.has_values:
            data.offsets = {p.name: data.offsets[n] for p, n in zip(files, names)
                            if n in data.offsets}
            _import_run(db_path, project, root, rel, [p.name for p in files], None, data, summary)
        else:
            adopted.by_parent.setdefault(parent, []).append((prefix, data, files))
    return adopted


def _parent_run(rel: str, runs: dict[str, list[Path]]) -> str | None:
    """The nearest folder above ``rel`` that is a run folder too (None for a top-level one)."""
    if rel == ".":
        return None
    parts = rel.split("/")
    for n in range(len(parts) - 1, -1, -1):
        candidate = "/".join(parts[:n]) or "."
        if candidate in runs:
            return candidate
    return None


def _source(root: Path, rel: str) -> str:
    return str(root / rel) if rel != "." else str(root)


def _import_run(
    db_path: Path, project: str, root: Path, rel: str, file_names: list[str],
    previous: _Imported | None, data: RunData, summary: ImportSummary,
) -> None:
    """Store one run folder's new data (nothing when there is none: no empty runs)."""
    for kind, count in data.skipped.items():
        summary.skipped[kind] = summary.skipped.get(kind, 0) + count
    if data.empty and not (previous and previous.legacy):
        return
    name = root.name if rel == "." else rel
    run_id = _store_run(db_path, project, name, _source(root, rel), previous, data, summary,
                        source_host(file_names))
    summary.runs += 1
    summary.run_ids.append(run_id)


def source_host(file_names: list[str]) -> str | None:
    """The host the event files' names say they were written on (None if they do not say, or
    disagree): ``events.out.tfevents.<time>.<host>[.<pid>...]``."""
    hosts = set()
    for name in file_names:
        match = _EVENT_NAME.fullmatch(name)
        if match is None:
            return None
        parts = [p for p in match.group(1).split(".") if p not in _NAME_SUFFIXES]
        host = []
        for part in parts:
            if part.isdigit():  # the pid: the host ends before it
                break
            host.append(part)
        hosts.add(".".join(host))
    if len(hosts) != 1:
        return None
    host = hosts.pop()
    return host if _HOST.fullmatch(host) else None


def _imported_runs(db_path: Path, project: str) -> dict[str, _Imported]:
    """Source folder -> what an earlier import made of it."""
    if not db_path.exists():
        return {}
    with open_store(db_path) as store:
        infos = store.runs(project, last_values=False)
    found = {}
    for info in infos:
        state, legacy = info.internal.get(STATE_KEY), False
        if state is None:
            state, legacy = info.summary.get(_LEGACY_KEY), True
        if isinstance(state, dict) and isinstance(state.get("source"), str):
            found[state["source"]] = _Imported(info.id, state, info.ended, legacy)
    return found


def _drop_partial_runs(db_path: Path, known: dict[str, _Imported]) -> None:
    """Delete the runs a first import of theirs did not finish (killed midway: some of their
    points may be stored, but not how far each file was read), so they are imported afresh
    rather than twice."""
    partial = {source: run.run_id for source, run in known.items() if run.state.get("partial")}
    if not partial:
        return
    with open_store(db_path) as store:
        store.delete_runs(partial.values())
    for source in partial:
        del known[source]


def _bookkeeping(state: dict[str, Any], legacy: bool) -> dict[str, Any]:
    """``set_summary`` arguments that store the import state out of the user's summary."""
    values: dict[str, Any] = {INTERNAL_SUMMARY_KEY: {STATE_KEY: state}}
    if legacy:
        values[_LEGACY_KEY] = None  # None: json_patch removes the old, visible copy
    return values


def _store_run(
    db_path: Path,
    project: str,
    name: str,
    source: str,
    previous: _Imported | None,
    data: RunData,
    summary: ImportSummary,
    host: str | None,
) -> str:
    run = Run(project=project, name=name, config=data.hparams or None, db=db_path,
              resume=previous.run_id if previous else None, strict=True)
    if previous is None:  # marked before any point lands: a killed import is redone, not doubled
        run.set_summary(**_bookkeeping({"source": source, "partial": True}, False))
        run.flush()
    try:
        for tag, (steps, values, walls) in data.scalars.items():
            run.log_series(_key(tag), np.asarray(steps, dtype=np.int64), values, walls)
            summary.scalars += len(steps)
        for tag, points in data.histograms.items():
            for step, wall, hist in points:
                run.log_histogram(_key(tag), hist, step, wall=wall)
            summary.histograms += len(points)
        for tag, texts in data.texts.items():
            for step, wall, text in texts:
                run.log_text(_key(tag), text, step, wall=wall)
            summary.texts += len(texts)
        for tag, images in data.images.items():
            for step, wall, image in images:  # PNG/JPEG bytes kept as they are
                run.log_image(_key(tag), image.data, step, image.caption, wall=wall)
            summary.images += len(images)
        unnamed = 0
        for _wall, graph_def, graph_name in data.graphs:
            if not graph_name:
                graph_name = "graph" if unnamed == 0 else f"graph-{unnamed}"
                unnamed += 1
            run.log_graph(from_graphdef(graph_def, name=graph_name))
            summary.graphs += 1
        for _wall, model_json in data.keras_models:
            run.log_graph(_keras_graph(model_json))
            summary.graphs += 1
        state = {"source": source, "offsets": data.offsets, "plugins": data.plugins,
                 "partial": None}  # None: json_patch removes the mark
        run.set_summary(**_bookkeeping(state, previous is not None and previous.legacy))
        run.finish()
    except BaseException:
        run.finish("failed")
        if previous is None:  # a first import: nothing of it stays to be doubled by the next one
            with open_store(db_path) as store:
                store.delete_runs([run.id])
        raise
    with open_store(db_path) as store:  # the run's times are those of its events, its host theirs
        info = store.run(run.id)
        started = data.first_wall if data.first_wall is not None else info.started
        ended = data.last_wall
        if previous:
            started = min(started, info.started)
            if ended is None or (previous.ended is not None and previous.ended > ended):
                ended = previous.ended
        store.set_run_times(run.id, started=started, ended=ended)
        store.set_run_host(run.id, host)
    return run.id


def _key(tag: str) -> str:
    """A TB tag as a tracker key: control characters replaced, cut to the key length limit."""
    key = "".join(c if c.isprintable() else "?" for c in tag).strip() or "(empty tag)"
    return key[:MAX_KEY_LENGTH]


def _keras_graph(model_json: str) -> Any:
    """The Keras conceptual graph: nodes from TensorBoard's own Keras JSON walker, JSON kept raw."""
    from tensorboard.plugins.graph import keras_util

    try:
        graph_def = keras_util.keras_model_to_graph_def(json.loads(model_json))
        graph = from_graphdef(graph_def.SerializeToString(), name="keras")
    except Exception:  # an unexpected model JSON: keep it raw, without nodes
        from ..graph import Graph

        graph = Graph(name="keras")
    graph.framework, graph.source = "keras", "keras_config"
    graph.raw, graph.raw_format = model_json, "keras_json"
    return graph
