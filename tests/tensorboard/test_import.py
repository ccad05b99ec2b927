"""Import: damaged and growing files, repeated imports, nesting, and the export round trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.tensorboard.export import export_tensorboard
from tracker.tensorboard.importer import import_tensorboard
from tracker.tensorboard.records import frame

WALL0 = 1_700_000_000.0


@pytest.fixture
def db_path(any_store: Path) -> Path:
    """Every test here runs on both backends (SQLite and PostgreSQL)."""
    return any_store


def _make_run(db: Path, name: str = "r", n: int = 100, project: str = "p") -> str:
    run = tracker.init(project, name=name, config={"lr": 0.01, "model": {"depth": 3}}, db=db)
    steps = np.arange(n)
    run.log_series("loss", steps, 1.0 / (steps + 1), WALL0 + steps)
    run.log_series("acc", steps, steps / n, WALL0 + steps)
    run.log_histogram("w", np.linspace(-1, 1, 50), step=3, bins=4, wall=WALL0 + 3)
    run.log_text("notes", "*hello*", step=1, wall=WALL0 + 1)
    run.finish()
    with tracker.open_store(db) as store:  # a run that really ran when its points say
        store.set_run_times(run.id, started=WALL0, ended=WALL0 + n)
    return run.id


def _series(db: Path, key: str, run_index: int = 0) -> tuple:
    with tracker.open_store(db) as store:
        run = store.runs()[run_index]
        s = store.series(run.id, key)
        return s.steps.tolist(), s.values.tolist(), s.walls.tolist()


def test_import_reads_everything_with_wall_times_and_run_times(db_path: Path, tmp_path: Path) -> None:
    _make_run(db_path)
    export_tensorboard(tmp_path / "tb", db=db_path, float64=True)  # exact values to compare
    back = tmp_path / "back.db"

    summary = import_tensorboard(tmp_path / "tb", db=back, project="old")

    assert (summary.runs, summary.scalars, summary.histograms, summary.texts) == (1, 200, 1, 1)
    assert summary.problems == []
    assert _series(back, "loss") == _series(db_path, "loss")
    with tracker.open_store(back) as store:
        (info,) = store.runs()
        assert info.project == "old" and info.name.startswith("p/r-")
        assert info.config == {"lr": 0.01, "model.depth": 3.0}
        assert (info.started, info.ended, info.status) == (WALL0, WALL0 + 99, "finished")
        (hist,) = store.histograms(info.id, "w")
        assert hist.step == 3 and hist.histogram.counts.tolist() == [13.0, 12.0, 12.0, 13.0]
        assert hist.histogram.edges.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
        assert [(t.step, t.wall, t.text) for t in store.texts(info.id, "notes")] == [(1, WALL0 + 1, "*hello*")]


def test_importing_twice_adds_nothing(db_path: Path, tmp_path: Path) -> None:
    _make_run(db_path)
    export_tensorboard(tmp_path / "tb", db=db_path)
    back = tmp_path / "back.db"
    import_tensorboard(tmp_path / "tb", db=back)
    again = import_tensorboard(tmp_path / "tb", db=back)

    assert (again.runs, again.scalars) == (0, 0)
    with tracker.open_store(back) as store:
        (info,) = store.runs()
        assert {k.key: k.count for k in store.keys(info.id)} == {"loss": 100, "acc": 100, "w": 1,
                                                                 "notes": 1}


KILLED_MIDWAY = """
import os, sys
from tracker.run import Run
from tracker.tensorboard.importer import import_tensorboard

def die(self, *args, **kwargs):  # the scalars are stored by now: the histogram never is
    self.flush()
    os._exit(9)

Run.log_histogram = die
import_tensorboard(sys.argv[1], db=sys.argv[2])
"""


def test_an_import_killed_midway_is_redone_not_doubled(db_path: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    _make_run(db_path)
    export_tensorboard(tmp_path / "tb", db=db_path)
    back = tmp_path / "back.db"
    child = subprocess.run([sys.executable, "-c", KILLED_MIDWAY, str(tmp_path / "tb"), str(back)])
    assert child.returncode == 9
    with tracker.open_store(back) as store:  # what the kill left: a marked run, half imported
        (info,) = store.runs()
        assert info.internal["tensorboard_import"]["partial"] is True
        assert {k.key for k in store.keys(info.id)} == {"loss", "acc"}

    summary = import_tensorboard(tmp_path / "tb", db=back)

    assert (summary.runs, summary.scalars, summary.histograms) == (1, 200, 1)
    with tracker.open_store(back) as store:
        (info,) = store.runs()
        assert "partial" not in info.internal["tensorboard_import"]
        assert {k.key: k.count for k in store.keys(info.id)} == {"loss": 100, "acc": 100, "w": 1,
                                                                 "notes": 1}


def test_a_failed_first_import_leaves_no_run_behind(db_path: Path, tmp_path: Path, monkeypatch) -> None:
    from tracker.run import Run

    _make_run(db_path)
    export_tensorboard(tmp_path / "tb", db=db_path)
    back = tmp_path / "back.db"
    real = Run.log_histogram

    def fail(self, *args, **kwargs):
        self.flush()  # points are stored before the failure
        raise KeyboardInterrupt

    monkeypatch.setattr(Run, "log_histogram", fail)
    with pytest.raises(KeyboardInterrupt):
        import_tensorboard(tmp_path / "tb", db=back)
    with tracker.open_store(back) as store:
        assert store.runs() == []
    monkeypatch.setattr(Run, "log_histogram", real)
    assert import_tensorboard(tmp_path / "tb", db=back).scalars == 200


def test_damaged_and_growing_files(db_path: Path, tmp_path: Path) -> None:
    _make_run(db_path, n=50)
    export_tensorboard(tmp_path / "tb", db=db_path)
    (path,) = (tmp_path / "tb").rglob("events.out.tfevents.*")
    full = path.read_bytes()
    back = tmp_path / "back.db"

    path.write_bytes(full[: len(full) // 2])  # a file still being written
    first = import_tensorboard(tmp_path / "tb", db=back)
    assert [p.reason.split(" ")[0] for p in first.problems] == ["truncated"]
    assert 0 < first.scalars < 100

    garbage = bytearray(frame(b"\x09" + b"\x00" * 8))
    garbage[14] ^= 0x01  # a record with a bad data CRC in the part written later
    path.write_bytes(full + bytes(garbage) + frame(b"not an event \xff\xff"))
    second = import_tensorboard(tmp_path / "tb", db=back)
    assert sorted(p.reason.split(":")[0] for p in second.problems) == ["bad data CRC",
                                                                       "record is not an Event"]
    assert first.scalars + second.scalars == 100
    steps, values, _ = _series(back, "loss")
    assert steps == list(range(50))  # every point once, none twice
    assert values == [float(np.float32(1 / (i + 1))) for i in range(50)]


def test_nested_runs_and_several_files_per_run(db_path: Path, tmp_path: Path) -> None:
    _make_run(db_path, name="a")
    _make_run(db_path, name="b", project="q")
    export_tensorboard(tmp_path / "one", db=db_path)
    nested = tmp_path / "logs" / "deep" / "er"
    shutil.copytree(tmp_path / "one", nested)
    # a second file in one run directory, as a restarted writer leaves it
    run_dir = next(p.parent for p in nested.rglob("events.out.tfevents.*") if "/q/" in str(p))
    (file_a,) = run_dir.glob("events.out.tfevents.*")
    shutil.copy(file_a, run_dir / "events.out.tfevents.9999999999.other.1")

    summary = import_tensorboard(tmp_path / "logs", db=tmp_path / "back.db")

    assert summary.runs == 2 and summary.scalars == 600
    with tracker.open_store(tmp_path / "back.db") as store:
        names = sorted(r.name for r in store.runs())
    assert names[0].startswith("deep/er/p/a-") and names[1].startswith("deep/er/q/b-")


@pytest.mark.parametrize("float64", [False, True])
def test_round_trip_export_import_export(db_path: Path, tmp_path: Path, dump, float64: bool) -> None:
    _make_run(db_path)
    export_tensorboard(tmp_path / "a", db=db_path, float64=float64)
    import_tensorboard(tmp_path / "a", db=tmp_path / "back.db")
    export_tensorboard(tmp_path / "b", db=tmp_path / "back.db", float64=float64)

    (first,) = dump(tmp_path / "a").values()
    (second,) = dump(tmp_path / "b").values()
    for key in ("tensors", "plugins", "scalars", "histograms"):
        assert first[key] == second[key], key
    assert first["hparams"]["values"] == second["hparams"]["values"]
    scalars = {"loss", "acc"}
    assert set(first["scalars"]) == (set() if float64 else scalars)
    assert set(first["tensors"]) == {"w", "notes", "_hparams_/session_start_info"} | (
        scalars if float64 else set())
    assert len(first["scalars"].get("loss", first["tensors"].get("loss"))) == 100


def test_graphs_come_back(db_path: Path, tmp_path: Path) -> None:
    model = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "InputLayer", "config": {"name": "input", "batch_shape": [None, 4]}},
        {"class_name": "Dense", "config": {"name": "d1", "units": 8}}]}}
    keras = tracker.Graph(name="seq", framework="keras", source="keras_config",
                          raw=json.dumps(model), raw_format="keras_json")
    keras.connect(keras.add(tracker.GraphNode("input", "InputLayer", kind="input")),
                  keras.add(tracker.GraphNode("d1", "Dense", params=40)))
    run = tracker.init("p", name="r", db=db_path)
    run.log({"loss": 1.0})
    run.log_graph(keras)
    run.finish()
    export_tensorboard(tmp_path / "tb", db=db_path)

    summary = import_tensorboard(tmp_path / "tb", db=tmp_path / "back.db")

    assert summary.graphs == 2  # the op graph and the Keras conceptual graph
    with tracker.open_store(tmp_path / "back.db") as store:
        (info,) = store.runs()
        graphs = [store.graph(g.id) for g in store.graphs(info.id)]
    op_graph = next(g for g in graphs if g.raw_format == "graphdef")
    assert [(n.name, n.op) for n in op_graph.nodes] == [("input", "InputLayer"), ("d1", "Dense")]
    assert op_graph.edges == [(0, 1)]
    conceptual = next(g for g in graphs if g.raw_format == "keras_json")
    assert json.loads(conceptual.raw) == model
    assert [(n.name, n.op) for n in conceptual.nodes] == [("seq/input", "InputLayer"),
                                                          ("seq/d1", "Dense")]
