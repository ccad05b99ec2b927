"""``tracker sync`` between two stores (SQLite <-> PostgreSQL either way, SQLite -> SQLite): every
kind of data round trip, a second sync adds nothing, a sync killed with SIGKILL and run again
doubles nothing, two syncs at once into one destination, a running run synced twice."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tracker.graph import Graph, GraphNode
from tracker.profile import Profile, ProfileOp
from tracker.records import EncodedImage, Histogram
from tracker.store import open_backend
from tracker.store.backend import (
    ConfigSet,
    ConsoleLines,
    FinalStatus,
    HistogramItem,
    ImageItem,
    NewRun,
    RunFilter,
    SeriesPoints,
    SummaryPatch,
    TextItem,
    WriteBatch,
)
from tracker.sync import sync
from tracker.urls import ServerURL

PAIRS = [("sqlite", "postgres"), ("postgres", "sqlite"), ("sqlite", "sqlite")]


@pytest.fixture
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A function giving a fresh, empty store location of a kind ("sqlite" or "postgres")."""
    made: list[int] = []

    def make(kind: str) -> Any:
        made.append(1)
        if kind == "sqlite":
            return tmp_path / f"store{len(made)}.db"
        return ServerURL(request.getfixturevalue("pg_server").create_database())

    return make


def _new(run_id: str, *, name: str = "one", started: float = 1000.0) -> NewRun:
    return NewRun(id=run_id, project="p", name=name, group="g", config={"lr": 0.1},
                  tags=["a"], notes=None, host="h1", pid=1, rank=0, local_rank=None,
                  world_size=2, started=started)


def _points(key: str, steps: Any, values: Any) -> SeriesPoints:
    steps = np.asarray(steps, dtype=np.int64)
    return SeriesPoints(key, steps, 1.7e9 + steps.astype(np.float64), np.asarray(values, float))


def _fill(location: Any) -> None:
    """Two runs holding every kind: one finished with notes and a changed name and tags, one
    still running."""
    w = open_backend(location, mode="write")
    w.create_run(_new("run00001"))
    h = Histogram.from_values(np.arange(10.0), bins=4)
    graph = Graph(nodes=[GraphNode("a", "linear", params=3), GraphNode("b", "relu")],
                  edges=[(0, 1)], name="m", framework="torch", source="fx", raw=b"xyz",
                  raw_format="txt", meta={"k": 1})
    profile = Profile(ops=[ProfileOp("mm", "aten", 2, 5.0, 6.0)], step_times_ns=[(3, 9.0)],
                      name="p", framework="torch", trace=b"trace", trace_format="json")
    w.write("run00001", WriteBatch(
        points=[_points("loss", range(1000), np.linspace(2, 0, 1000)),
                _points("acc", [0, 5, 3], [0.1, float("nan"), float("inf")])],
        records=[HistogramItem("w", 1, 10.0, h), HistogramItem("w", 2, 11.0, h),
                 TextItem("note", 1, 10.0, "hello [b]x[/b]"),
                 ImageItem("img", 1, 10.0, EncodedImage("png", b"\x89PNG-a", 2, 3, "cap")),
                 ImageItem("img", 1, 12.0, EncodedImage("png", b"\x89PNG-b", 2, 3, None)),
                 ConsoleLines([("stdout", 10.0, None, "epoch 1"),
                               ("stderr", 11.0, 1, "warning: \x1b[31mx")]),
                 SummaryPatch({"best": {"acc": 0.5}}), ConfigSet({"lr": 0.2, "bs": 8}),
                 graph, profile]),
        final=FinalStatus("finished", 2000.0), now=1500.0)
    w.rename_run("run00001", "renamed")
    w.set_tags("run00001", ["x", "y"])
    w.set_notes("run00001", "some notes")
    w.close()
    w = open_backend(location, mode="write")  # a write handle is one run's
    w.create_run(_new("run00002", name="two", started=3000.0))
    w.write("run00002", WriteBatch(points=[_points("loss", [0, 1], [1.0, 0.5])]), now=3001.0)
    w.close()


def _snapshot(location: Any) -> dict[str, Any]:
    """Everything a store holds, by run, as plain values (heartbeats and graph/profile creation
    times left out: the destination's own)."""
    r = open_backend(location, mode="read")
    out: dict[str, Any] = {}
    try:
        for row in r.runs(RunFilter()):
            rid = row.id
            run: dict[str, Any] = {
                "row": (row.project, row.name, row.group, row.status, json.loads(row.config),
                        json.loads(row.tags), row.notes, row.host, row.rank, row.world_size,
                        row.started, row.ended if row.status != "running" else None,
                        json.loads(row.summary)),
            }
            for k in r.keys(rid):
                run[f"key {k.key} {k.kind}"] = (k.count, k.first_step, k.last_step)
                if k.kind == "scalar":
                    s = r.series(rid, k.key, None, None)
                    run[f"points {k.key}"] = (s.steps.tolist(), s.walls.tolist(),
                                              [repr(v) for v in s.values.tolist()])
                elif k.kind == "histogram":
                    run[f"hist {k.key}"] = [(p.step, p.wall, p.histogram.counts.tolist())
                                            for p in r.histograms(rid, k.key, None, None)]
                elif k.kind == "text":
                    run[f"text {k.key}"] = [(t.step, t.wall, t.text) for t in r.texts(rid, k.key)]
                elif k.kind == "image":
                    run[f"img {k.key}"] = [(m.step, m.wall, m.image)
                                           for m in r.images_after(rid, k.key, 0, 1000)]
            run["console"] = [(c.seq, c.stream, c.wall, c.step, c.text)
                              for c in r.console_lines(rid)]
            run["graphs"] = [(g.name, [n.name for n in r.graph(g.id).nodes], r.graph(g.id).raw)
                             for g in r.graphs(rid)]
            run["profiles"] = [(p.name, p.op_count, r.profile(p.id).trace) for p in r.profiles(rid)]
            out[rid] = run
    finally:
        r.close()
    return out


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("src_kind", "dest_kind"), PAIRS)
def test_every_kind_comes_across_and_a_second_sync_adds_nothing(
        make_store: Any, src_kind: str, dest_kind: str) -> None:
    src, dest = make_store(src_kind), make_store(dest_kind)
    _fill(src)
    before = _digest(src) if src_kind == "sqlite" else None
    first = sync(src, dest)
    assert (first.runs, first.created, first.points, first.records) == (2, 2, 1005, 9)
    want = _snapshot(src)
    assert _snapshot(dest) == want
    assert want["run00002"]["points loss"][0] == [0, 1]
    assert want["run00001"]["row"][3] == "finished" and want["run00002"]["row"][3] == "running"
    second = sync(src, dest)
    assert (second.created, second.points, second.records) == (0, 0, 0)
    assert _snapshot(dest) == want
    if before is not None:
        assert _digest(src) == before  # the source is only read


def test_a_running_run_synced_again_picks_up_only_what_is_new(make_store: Any) -> None:
    src, dest = make_store("sqlite"), make_store("postgres")
    _fill(src)
    w = open_backend(src, mode="write")
    w.write("run00002", WriteBatch(records=[ConsoleLines([("stdout", 3001.5, 1, "first")])]),
            now=3001.5)
    w.close()
    sync(src, dest, run_ids=["run00002"])
    w = open_backend(src, mode="write")
    w.write("run00002", WriteBatch(
        points=[_points("loss", [2, 3, 4], [0.4, 0.3, 0.2])],
        records=[TextItem("log", 2, 12.0, "later"), ConsoleLines([("stdout", 12.0, 2, "line")])]),
        now=3002.0)
    w.write("run00002", WriteBatch(), final=FinalStatus("failed", 3100.0), now=3100.0)
    w.close()
    again = sync(src, dest, project="p", run_ids=["run00002"])
    assert (again.created, again.points, again.records) == (0, 3, 2)
    assert _snapshot(dest) == {"run00002": _snapshot(src)["run00002"]}


def test_since_and_project_choose_runs(make_store: Any) -> None:
    src, dest = make_store("sqlite"), make_store("sqlite")
    _fill(src)
    assert sync(src, dest, project="elsewhere").runs == 0
    assert sync(src, dest, since=2500.0).runs == 1  # run00001 ended at 2000
    assert set(_snapshot(dest)) == {"run00002"}


_CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    import tracker.sync as s
    from tracker.urls import ServerURL

    def loc(text):
        return ServerURL(text) if "://" in text else Path(text)

    s.BATCH_POINTS = int(sys.argv[3])
    marker = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    if marker is not None:  # say so once some batches are in, then keep going
        write = s._RunCopy._write
        done = []
        def counted(self, batch):
            write(self, batch)
            done.append(1)
            if len(done) == 3:
                marker.write_text("3")
        s._RunCopy._write = counted
    result = s.sync(loc(sys.argv[1]), loc(sys.argv[2]))
    print(result.points, result.records)
""")


def _big_source(location: Any, points: int) -> None:
    for i in range(2):
        w = open_backend(location, mode="write")  # a write handle is one run's
        run_id = f"big0000{i}"
        w.create_run(_new(run_id, name=f"big{i}", started=1000.0 + i))
        steps = np.arange(points)
        w.write(run_id, WriteBatch(
            points=[_points("loss", steps, np.cos(steps / 100.0)),
                    _points("acc", steps, np.sin(steps / 100.0))],
            records=[TextItem("t", s, 1.0, f"text {s}") for s in range(50)]), now=1.0)
        w.write(run_id, WriteBatch(), final=FinalStatus("finished", 5000.0), now=2.0)
        w.close()


def _child(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / "sync_child.py"
    script.write_text(_CHILD)
    env = dict(os.environ)
    return subprocess.Popen([sys.executable, str(script), *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _location_arg(location: Any) -> str:
    return os.fspath(location)


@pytest.mark.parametrize("dest_kind", ["sqlite", "postgres"])
def test_a_sync_killed_mid_way_and_run_again_doubles_nothing(
        make_store: Any, tmp_path: Path, dest_kind: str) -> None:
    src, dest = make_store("sqlite"), make_store(dest_kind)
    _big_source(src, 200_000)
    marker = tmp_path / "three-batches"
    child = _child(tmp_path, _location_arg(src), _location_arg(dest), "5000", str(marker))
    try:
        while not marker.exists():  # the child writes it after its third committed batch
            try:
                child.wait(timeout=0.02)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"the sync ended before its third batch: {child.communicate()}")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    part = _snapshot(dest)
    assert part != _snapshot(src)  # it was cut short
    result = sync(src, dest)
    already = sum(len(v[0]) for run in part.values() for k, v in run.items()
                  if k.startswith("points "))
    assert result.points + already == 800_000  # 2 runs x 2 keys x 200,000
    assert _snapshot(dest) == _snapshot(src)
    assert sync(src, dest).points == 0


@pytest.mark.parametrize("dest_kind", ["sqlite", "postgres"])
def test_two_syncs_at_once_into_one_destination(make_store: Any, tmp_path: Path,
                                                dest_kind: str) -> None:
    src, dest = make_store("sqlite"), make_store(dest_kind)
    _big_source(src, 50_000)
    children = [_child(tmp_path, _location_arg(src), _location_arg(dest), "2000")
                for _ in range(2)]
    outputs = [c.communicate() for c in children]
    assert [c.returncode for c in children] == [0, 0], outputs
    copied = [tuple(map(int, out.split())) for out, _ in outputs]
    assert sum(p for p, _ in copied) == 200_000 and sum(r for _, r in copied) == 100
    assert _snapshot(dest) == _snapshot(src)


def test_the_cli_copies_with_one_line_and_refuses_one_store_twice(
        make_store: Any, tmp_path: Path) -> None:
    src, dest = make_store("sqlite"), make_store("postgres")
    _fill(src)
    cmd = [sys.executable, "-m", "tracker.cli", "sync"]
    out = subprocess.run([*cmd, str(src), str(dest.conninfo), "--runs", "run00001,run00002"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""  # no progress bar when not on a terminal
    assert out.stdout.startswith("synced 2 runs (2 new): 1,005 points, 9 records")
    assert _snapshot(dest) == _snapshot(src)
    same = subprocess.run([*cmd, str(src), str(src)], capture_output=True, text=True)
    assert same.returncode == 2 and "same store" in same.stderr
    assert same.stderr.count("\n") == 1
    bad = subprocess.run([*cmd, str(src), str(dest.conninfo), "--since", "yesterday"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "is not a date" in bad.stderr
    missing = subprocess.run([*cmd, str(tmp_path / "nope.db"), str(dest.conninfo)],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no store at" in missing.stderr


def test_the_progress_line_is_for_terminals_and_shows_ids_literally() -> None:
    import io

    from tracker.sync import TerminalProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term, pipe = Terminal(), io.StringIO()
    TerminalProgress(term)("run 1/1 ab\x1b[2Jcd: 5 points")
    TerminalProgress(pipe)("run 1/1 abcd: 5 points")
    assert term.getvalue().startswith("\rsync: run 1/1 ab") and "\x1b" not in term.getvalue()
    assert pipe.getvalue() == ""


@pytest.mark.parametrize("dest_kind", ["sqlite", "postgres"])
def test_a_sync_of_runs_already_copied_writes_nothing_and_still_takes_their_edits(
        make_store: Any, dest_kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs the destination holds whole are only compared (no write: a no-op sync of thousands of
    runs is a read of each side), while a field edited at the source since is copied."""
    src, dest = make_store("sqlite"), make_store(dest_kind)
    _fill(src)
    sync(src, dest)
    want = _snapshot(dest)
    # another connection holds the destination's write lock: any write by the sync would wait
    if dest_kind == "sqlite":
        from tracker.store.sqlite import connection

        monkeypatch.setattr(connection, "BUSY_TIMEOUT_S", 0.5)
        holder: Any = sqlite3.connect(dest, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        import psycopg

        monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=500")
        holder = psycopg.connect(dest.conninfo)
        holder.execute("LOCK TABLE runs, series IN EXCLUSIVE MODE")  # reads go on
    try:
        again = sync(src, dest)
    finally:
        holder.rollback() if dest_kind == "postgres" else holder.execute("ROLLBACK")
        holder.close()
    assert (again.runs, again.created, again.points, again.records) == (2, 0, 0, 0)
    assert _snapshot(dest) == want
    edit = open_backend(src, mode="write", for_run=False)
    edit.rename_run("run00001", "renamed")
    edit.set_tags("run00001", ["new"])
    edit.close()
    sync(src, dest)
    assert _snapshot(dest) == _snapshot(src)
    assert _snapshot(dest)["run00001"]["row"] != want["run00001"]["row"]
