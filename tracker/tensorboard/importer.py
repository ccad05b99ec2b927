"""``import_tensorboard``: a TensorBoard logdir into the store, one tracker run per TB run.

Each TB run directory (any nesting) becomes a run named by its path under the logdir. The run's
summary remembers the source folder and how far each event file was read, so importing the same
logdir again appends only new events (a file still being written is picked up where it stopped).
A run's first import is marked partial until it ends: one that fails is deleted, one that was
killed is deleted and redone by the next import.
Writes go through the core ``Run`` (``log_series`` keeps wall times); no TensorFlow is imported.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TrackerError
from ..paths import resolve_db_path
from ..query import open_store
from ..run import Run
from ..values import MAX_KEY_LENGTH
from .graphdef import from_graphdef
from .reader import RunData, find_runs, read_run
from .records import RecordProblem

SUMMARY_KEY = "tensorboard_import"


@dataclass
class ImportSummary:
    """What one import read and stored."""

    runs: int = 0  # runs created or extended
    scalars: int = 0
    histograms: int = 0
    texts: int = 0
    graphs: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # unsupported summaries, by plugin
    problems: list[RecordProblem] = field(default_factory=list)  # bad or truncated records
    run_ids: list[str] = field(default_factory=list)


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
    for rel, files in runs.items():
        source = str(root / rel) if rel != "." else str(root)
        previous = known.get(source)
        state = previous[1] if previous else {}
        data = read_run(files, state.get("offsets", {}), summary.problems, state.get("plugins"))
        for kind, count in data.skipped.items():
            summary.skipped[kind] = summary.skipped.get(kind, 0) + count
        if data.empty and previous is not None:
            continue
        name = root.name if rel == "." else rel
        run_id = _store_run(db_path, project, name, source, previous, data, summary)
        summary.runs += 1
        summary.run_ids.append(run_id)
    return summary


def _imported_runs(db_path: Path, project: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Source folder -> (run id, import state) for runs an earlier import made."""
    if not db_path.exists():
        return {}
    with open_store(db_path) as store:
        infos = store.runs(project, last_values=False)
    found = {}
    for info in infos:
        state = info.summary.get(SUMMARY_KEY)
        if isinstance(state, dict) and isinstance(state.get("source"), str):
            found[state["source"]] = (info.id, state)
    return found


def _drop_partial_runs(db_path: Path, known: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """Delete the runs a first import of theirs did not finish (killed midway: some of their
    points may be stored, but not how far each file was read), so they are imported afresh
    rather than twice."""
    partial = {source: run_id for source, (run_id, state) in known.items() if state.get("partial")}
    if not partial:
        return
    with open_store(db_path) as store:
        store.delete_runs(partial.values())
    for source in partial:
        del known[source]


def _store_run(
    db_path: Path,
    project: str,
    name: str,
    source: str,
    previous: tuple[str, dict[str, Any]] | None,
    data: RunData,
    summary: ImportSummary,
) -> str:
    run = Run(project=project, name=name, config=data.hparams or None, db=db_path,
              resume=previous[0] if previous else None, strict=True)
    if previous is None:  # marked before any point lands: a killed import is redone, not doubled
        run.set_summary(**{SUMMARY_KEY: {"source": source, "partial": True}})
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
        for i, (_wall, graph_def) in enumerate(data.graphs):
            run.log_graph(from_graphdef(graph_def, name="graph" if i == 0 else f"graph-{i}"))
            summary.graphs += 1
        for _wall, model_json in data.keras_models:
            run.log_graph(_keras_graph(model_json))
            summary.graphs += 1
        state = {"source": source, "offsets": data.offsets, "plugins": data.plugins,
                 "partial": None}  # None: json_patch removes the mark
        run.set_summary(**{SUMMARY_KEY: state})
        run.finish()
    except BaseException:
        run.finish("failed")
        if previous is None:  # a first import: nothing of it stays to be doubled by the next one
            with open_store(db_path) as store:
                store.delete_runs([run.id])
        raise
    with open_store(db_path) as store:  # the run's times are those of its events
        info = store.run(run.id)
        started = data.first_wall if data.first_wall is not None else info.started
        if previous:
            started = min(started, info.started)
        store.set_run_times(run.id, started=started, ended=data.last_wall)
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

