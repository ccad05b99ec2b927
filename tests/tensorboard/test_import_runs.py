"""Which runs an import makes, and what they carry: no empty runs, no bookkeeping in the summary,
the source's host rather than the importer's."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2

import tracker
from tracker.tensorboard.export import export_tensorboard
from tracker.tensorboard.importer import import_tensorboard, source_host
from tracker.tensorboard.records import frame

WALL0 = 1_700_000_000.0


def _graph(name: str, nodes: int) -> tracker.Graph:
    graph = tracker.Graph(name=name, framework="torch", source="fx")
    for i in range(nodes):
        graph.add(tracker.GraphNode(name=f"{name}{i}", op="linear"))
    return graph


def _run_with_three_graphs(db: Path) -> str:
    run = tracker.init("p", name="r", config={"lr": 0.1}, db=db)
    steps = np.arange(50)
    run.log_series("loss", steps, 1.0 / (steps + 1), WALL0 + steps)
    for name, nodes in (("model", 3), ("encoder", 2), ("decoder", 4)):
        run.log_graph(_graph(name, nodes))
    run.finish()
    return run.id


def _event(step: int, **kwargs: object) -> bytes:
    return frame(event_pb2.Event(wall_time=WALL0 + step, step=step, **kwargs).SerializeToString())


def test_export_then_import_gives_back_the_same_runs(db_path: Path, tmp_path: Path) -> None:
    run_id = _run_with_three_graphs(db_path)
    out = tmp_path / "tb"
    export_tensorboard(out, db=db_path)
    run_dir = out / "p" / f"r-{run_id}"
    assert len([p for p in run_dir.iterdir() if p.is_dir()]) == 2  # the later graphs' sub-runs
    # folders with nothing tracker imports: only a file_version, only a damaged image
    (out / "p" / "empty").mkdir()
    (out / "p" / "empty" / "events.out.tfevents.1.host").write_bytes(
        frame(event_pb2.Event(wall_time=WALL0, file_version="brain.Event:2").SerializeToString()))
    (run_dir / "plugins" / "images").mkdir(parents=True)
    image = summary_pb2.Summary.Value(tag="img", image=summary_pb2.Summary.Image(height=1, width=1))
    (run_dir / "plugins" / "images" / "events.out.tfevents.1.host").write_bytes(
        _event(1, summary=summary_pb2.Summary(value=[image])))
    back = tmp_path / "back.db"

    first = import_tensorboard(out, db=back, project="p")
    again = import_tensorboard(out, db=back, project="p")

    assert (first.runs, first.scalars, first.graphs, first.skipped) == (1, 50, 3, {})
    (problem,) = first.problems  # the image declares 1x1 pixels and holds no data
    assert "value 'img': the data is not a readable PNG or JPEG image: skipped" in problem.reason
    assert (again.runs, again.scalars, again.graphs) == (0, 0, 0)
    with tracker.open_store(back) as store:
        (info,) = store.runs()
        assert info.name == f"p/r-{run_id}" and info.config == {"lr": 0.1}
        graphs = store.graphs(info.id)
        assert sorted(g.node_count for g in graphs) == [2, 3, 4]
        names = sorted(g.name for g in graphs)
        assert names[0] == "graph" and names[1].startswith("graph-decoder-")
        assert names[2].startswith("graph-encoder-")


def test_import_bookkeeping_stays_out_of_the_users_summary(db_path: Path, tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    logdir.mkdir()
    value = summary_pb2.Summary.Value(tag="loss", simple_value=0.5)
    (logdir / "events.out.tfevents.1.host.1").write_bytes(
        _event(0, summary=summary_pb2.Summary(value=[value])))
    import_tensorboard(logdir, db=db_path)
    with tracker.open_store(db_path) as store:
        (info,) = store.runs()
    assert info.summary == {}
    assert info.internal["tensorboard_import"]["source"] == str(logdir.resolve())

    shown = subprocess.run([sys.executable, "-m", "tracker.cli", "show", info.id, "--json",
                            "--db", str(db_path)], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["summary"] == {}
    assert str(logdir) not in shown.stdout and "offsets" not in shown.stdout


def test_bookkeeping_an_earlier_version_kept_in_the_summary_is_moved_out(
    db_path: Path, tmp_path: Path
) -> None:
    logdir = tmp_path / "logs"
    logdir.mkdir()
    path = logdir / "events.out.tfevents.1.host.1"
    value = summary_pb2.Summary.Value(tag="loss", simple_value=0.5)
    path.write_bytes(_event(0, summary=summary_pb2.Summary(value=[value])))
    import_tensorboard(logdir, db=db_path)
    conn = sqlite3.connect(db_path)
    with conn:  # the layout of earlier versions: the state as a key of the summary
        conn.execute("UPDATE runs SET summary = json_object('tensorboard_import',"
                     " json_extract(summary, '$._tracker.tensorboard_import'), 'best', 1)")
    conn.close()
    with path.open("ab") as f:
        f.write(_event(1, summary=summary_pb2.Summary(value=[value])))

    summary = import_tensorboard(logdir, db=db_path)

    assert (summary.runs, summary.scalars) == (1, 1)  # only the new point: the state was found
    with tracker.open_store(db_path) as store:
        (info,) = store.runs()
        assert info.summary == {"best": 1}
        assert info.internal["tensorboard_import"]["source"] == str(logdir.resolve())
        assert store.series(info.id, "loss").steps.tolist() == [0, 1]


def test_an_imported_run_carries_the_sources_host_and_no_pid(db_path: Path, tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    value = summary_pb2.Summary.Value(tag="loss", simple_value=0.5)
    event = _event(0, summary=summary_pb2.Summary(value=[value]))
    for run, name in (("keras", "events.out.tfevents.1700000000.gpu-node-7.4242.0.v2"),
                      ("ip", "events.out.tfevents.1700000000.10.0.0.5.4242.0")):
        (logdir / run).mkdir(parents=True)
        (logdir / run / name).write_bytes(event)

    import_tensorboard(logdir, db=db_path)

    with tracker.open_store(db_path) as store:
        hosts = {r.name: (r.host, r.pid) for r in store.runs()}
    assert hosts == {"keras": ("gpu-node-7", None), "ip": (None, None)}


def test_a_round_trip_keeps_the_host_the_run_ran_on(db_path: Path, tmp_path: Path) -> None:
    run = tracker.init("p", name="r", db=db_path)
    run.log({"loss": 1.0})
    run.finish()
    back = tmp_path / "back.db"

    export_tensorboard(tmp_path / "tb", db=db_path)
    import_tensorboard(tmp_path / "tb", db=back)

    with tracker.open_store(back) as store:
        (info,) = store.runs()
    expected = "".join(c if c.isalnum() or c in "-_." else "_" for c in socket.gethostname())
    assert (info.host, info.pid) == (expected, None)
    assert info.pid != os.getpid()


@pytest.mark.parametrize(("name", "host"), [
    ("events.out.tfevents.1700000000.myhost.123.0.v2", "myhost"),
    ("events.out.tfevents.1700000000.node1.cluster.org.123.0", "node1.cluster.org"),
    ("events.out.tfevents.1700000000.myhost", "myhost"),
    ("events.out.tfevents.1700000000.myhost.profile-empty", "myhost"),
    ("events.out.tfevents.0001700000.myhost.99.tracker", "myhost"),
    ("events.out.tfevents.1700000000.10.0.0.5.123", None),
    ("events.out.tfevents.1700000000.\x1b]0;x.1", None),
    ("events.out.tfevents.x.myhost.1", None),
])
def test_the_host_an_event_file_name_tells(name: str, host: str | None) -> None:
    assert source_host([name]) == host
