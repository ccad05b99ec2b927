"""Incremental export, run selection, and the exporter's process staying free of TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.errors import TrackerError
from tracker.tensorboard.export import export_tensorboard
from tracker.tensorboard.state import STATE_FILE


def _points(run: dict, tag: str) -> list[tuple[int, float]]:
    return [(s, v) for _, s, v in run["scalars"][tag]]


def test_second_export_appends_only_new_points(db_path: Path, tmp_path: Path, dump) -> None:
    out = tmp_path / "tb"
    run = tracker.init("p", name="live", db=db_path)
    for i in range(10):
        run.log({"loss": float(i)}, step=i)
    run.log_text("log", "first", step=0)
    assert run.flush()

    first = export_tensorboard(out, db=db_path)
    for i in range(10, 15):
        run.log({"loss": float(i), "lr": 0.1}, step=i)
    run.log_text("log", "second", step=12)
    run.log_histogram("h", [1.0, 2.0, 3.0], step=12)
    run.finish()
    second = export_tensorboard(out, db=db_path)
    third = export_tensorboard(out, db=db_path)

    assert (first.scalars, second.scalars, third.scalars) == (10, 10, 0)
    assert (second.texts, second.histograms, third.runs) == (1, 1, 0)
    assert third.files == []
    (got,) = dump(out).values()
    assert len(got["files"]) == 2  # one event file per export that had something new
    assert _points(got, "loss") == [(i, float(i)) for i in range(15)]
    assert _points(got, "lr") == [(i, float(np.float32(0.1))) for i in range(10, 15)]
    assert [t[2] for t in got["tensors"]["log"]] == [["first"], ["second"]]
    assert len(got["tensors"]["h"]) == 1


def test_histograms_and_texts_logged_later_at_earlier_steps_are_exported(
    db_path: Path, tmp_path: Path, dump
) -> None:
    out = tmp_path / "tb"
    run = tracker.init("p", name="late", db=db_path)
    run.log_histogram("h", [1.0, 2.0], step=10)
    run.log_text("note", "at ten", step=10)
    assert run.flush()
    export_tensorboard(out, db=db_path)
    run.log_histogram("h", [3.0, 4.0, 5.0], step=5)  # e.g. a hook reporting a recorded step late
    run.log_text("note", "at five", step=5)
    run.finish()
    second = export_tensorboard(out, db=db_path)

    assert (second.histograms, second.texts) == (1, 1)
    (got,) = dump(out).values()
    assert sorted(t[1] for t in got["tensors"]["h"]) == [5, 10]
    assert sorted((t[1], t[2][0]) for t in got["tensors"]["note"]) == [(5, "at five"), (10, "at ten")]


def test_a_second_export_into_the_same_folder_waits_for_the_first(
    db_path: Path, tmp_path: Path, monkeypatch
) -> None:
    from tracker.tensorboard import state
    from tracker.tensorboard.outdir import Folder

    run = tracker.init("p", name="r", db=db_path)
    run.log({"x": 1.0})
    run.finish()
    out = tmp_path / "tb"
    out.mkdir()
    monkeypatch.setattr(state, "LOCK_WAIT_S", 0.2)
    with Folder.open_root(out) as root, state.export_lock(root):  # an export in progress (another process holds it the same way)
        with pytest.raises(TrackerError, match="another export into .* is still running"):
            export_tensorboard(out, db=db_path)
    assert not (out / STATE_FILE).exists()  # the waiting one wrote nothing
    assert export_tensorboard(out, db=db_path).scalars == 1  # once the first ends


def test_runs_project_and_since_select_runs(db_path: Path, tmp_path: Path) -> None:
    ids = {}
    for project, name in (("a", "one"), ("a", "two"), ("b", "three")):
        run = tracker.init(project, name=name, db=db_path)
        run.log({"x": 1.0})
        run.finish()
        ids[name] = run.id
    with tracker.open_store(db_path) as store:
        store.set_run_times(ids["one"], started=1_000_000_000.0)

    assert export_tensorboard(tmp_path / "1", db=db_path, project="a").runs == 2
    assert export_tensorboard(tmp_path / "2", ["three", ids["one"][:6]], db=db_path).runs == 2
    assert export_tensorboard(tmp_path / "3", db=db_path, since="2020-01-01").runs == 2
    assert sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "1" / "a").iterdir()) == ["one", "two"]
    with pytest.raises(TrackerError, match="not a date"):
        export_tensorboard(tmp_path / "4", db=db_path, since="last tuesday")


def test_state_file_is_kept_in_the_output_folder(db_path: Path, tmp_path: Path) -> None:
    run = tracker.init("p", name="r", db=db_path)
    run.log({"x": 1.0})
    run.finish()
    export_tensorboard(tmp_path / "tb", db=db_path)
    state = json.loads((tmp_path / "tb" / STATE_FILE).read_text())
    assert state["runs"][run.id]["scalars"] == {"x": 1}

    (tmp_path / "tb" / STATE_FILE).write_text("{not json")
    with pytest.raises(TrackerError, match="delete it"):
        export_tensorboard(tmp_path / "tb", db=db_path)
    for entry in ("oops", {"dir": "p/r", "scalars": {"x": "1"}}, {"dir": "p/r", "files": [1]}):
        (tmp_path / "tb" / STATE_FILE).write_text(json.dumps({"version": 1, "runs": {run.id: entry}}))
        with pytest.raises(TrackerError, match="is damaged; delete it"):
            export_tensorboard(tmp_path / "tb", db=db_path)


def test_export_and_import_never_import_tensorflow(db_path: Path, tmp_path: Path) -> None:
    code = f"""
import sys, numpy as np, tracker
run = tracker.init("p", name="r", config={{"lr": 0.1}}, db={str(db_path)!r})
run.log({{"loss": 1.0}}); run.log_histogram("h", np.arange(10.0)); run.log_text("t", "hi")
g = tracker.Graph(); g.add(tracker.GraphNode("a", "op")); run.log_graph(g)
run.finish()
tracker.export_tensorboard({str(tmp_path / "tb")!r}, db={str(db_path)!r}, quiet=False)
tracker.import_tensorboard({str(tmp_path / "tb")!r}, db={str(tmp_path / "back.db")!r})
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "torch", "jax", "keras"))
print(heavy)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_progress_is_reported_per_run(db_path: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        run = tracker.init("p", name=name, db=db_path)
        run.log({"x": 1.0})
        run.finish()
    calls: list[tuple[int, int, str]] = []

    export_tensorboard(tmp_path / "tb", db=db_path, progress=lambda *a: calls.append(a))

    assert calls == [(1, 2, "a"), (2, 2, "b")]
