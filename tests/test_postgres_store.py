"""The PostgreSQL backend against a real server: every write and read of the backend interface,
the schema's version and migration, and errors on one line with the password masked."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import time

import numpy as np
import pytest

from tracker.errors import SchemaTooNewError, StoreError
from tracker.graph import Graph, GraphNode
from tracker.profile import Profile, ProfileOp
from tracker.records import EncodedImage, Histogram
from tracker.store.backend import (
    ConfigSet,
    ConsoleLines,
    FinalStatus,
    HistogramItem,
    ImageItem,
    NewRun,
    RunFilter,
    RunGoneError,
    SeriesPoints,
    StorageFault,
    SummaryPatch,
    TextItem,
    WriteBatch,
)
from tracker.store.postgres import PostgresReadBackend, PostgresWriteBackend, open_backend
from tracker.store.postgres.schema import SCHEMA_VERSION


def _new(run_id: str = "abc12345", project: str = "p", name: str | None = "one") -> NewRun:
    return NewRun(id=run_id, project=project, name=name, group="g", config={"lr": 0.1},
                  tags=["a"], notes=None, host="h1", pid=1, rank=None, local_rank=None,
                  world_size=None, started=1000.0)


def _points(key: str, steps: list[int] | np.ndarray, values: list[float] | np.ndarray) -> SeriesPoints:
    steps = np.asarray(steps, dtype=np.int64)
    return SeriesPoints(key, steps, 1.7e9 + steps.astype(np.float64), np.asarray(values, float))


def test_scalars_round_trip_in_step_order_with_nan_and_inf(pg_url: str) -> None:
    w = open_backend(pg_url, "write")
    w.create_run(_new())
    w.write("abc12345", WriteBatch(points=[_points("loss", [0, 1, 2], [1.0, math.nan, math.inf])]),
            now=1.0)
    # a second flush grows the small last chunk; a step going back keeps every point
    w.write("abc12345", WriteBatch(points=[_points("loss", [1, 3], [0.5, -math.inf])]), now=2.0)
    r = open_backend(pg_url, "read")
    s = r.series("abc12345", "loss", None, None)
    assert s.steps.tolist() == [0, 1, 1, 2, 3]
    np.testing.assert_array_equal(s.values, [1.0, math.nan, 0.5, math.inf, -math.inf])
    after = r.points_after("abc12345", "loss", 3)
    assert after.steps.tolist() == [1, 3]
    (key,) = r.keys("abc12345")
    assert (key.key, key.kind, key.count, key.first_step, key.last_step) == ("loss", "scalar", 5, 0, 3)
    assert key.last_value == -math.inf and key.min == -math.inf and key.max == math.inf
    assert r.series("abc12345", "missing", None, None).steps.tolist() == []
    w.close()
    r.close()


def test_a_million_points_reduce_like_the_raw_points(pg_url: str) -> None:
    w = open_backend(pg_url, "write")
    w.create_run(_new())
    n = 1_000_000
    steps = np.arange(n)
    values = np.sin(steps / 1000.0)
    for a in range(0, n, 250_000):
        w.write("abc12345", WriteBatch(points=[_points("x", steps[a:a + 250_000],
                                                       values[a:a + 250_000])]), now=1.0)
    r = open_backend(pg_url, "read")
    s = r.series("abc12345", "x", None, None)
    np.testing.assert_array_equal(s.values, values)
    red = r.reduced("abc12345", "x", 100, None, None)
    assert red.counts.sum() == n
    # read from blocks of 4,096 points: a bucket holds whole blocks, so check what must hold
    assert red.mins.min() == values.min() and red.maxs.max() == values.max()
    np.testing.assert_allclose((red.means * red.counts).sum(), values.sum(), rtol=1e-9)
    assert np.all((red.mins <= red.means) & (red.means <= red.maxs))
    part = r.reduced("abc12345", "x", 10, 123_456, 654_321)
    assert part.counts.sum() == 654_321 - 123_456 + 1


def test_records_runs_and_edits_round_trip(pg_url: str) -> None:
    w = open_backend(pg_url, "write")
    start = w.create_run(_new(name=None))
    assert start.name.endswith("-1") and start.next_step == 0
    h = Histogram.from_values(np.arange(10.0), bins=4)
    graph = Graph(nodes=[GraphNode("a", "linear", params=3), GraphNode("b", "relu")],
                  edges=[(0, 1)], name="m", framework="torch", source="fx", raw=b"xyz",
                  raw_format="txt", meta={"k": 1})
    profile = Profile(ops=[ProfileOp("mm", "aten", 2, 5.0, 6.0)], step_times_ns=[(3, 9.0)],
                      name="p", framework="torch", trace=b"trace", trace_format="json")
    batch = WriteBatch(
        points=[_points("acc", [5], [0.5])],
        records=[
            HistogramItem("w", 1, 10.0, h), HistogramItem("w", 2, 11.0, h),
            TextItem("note", 1, 10.0, "hello [b]not markup[/b]"),
            ImageItem("img", 1, 10.0, EncodedImage("png", b"\x89PNG...", 2, 3, "cap")),
            ImageItem("img", 1, 12.0, EncodedImage("png", b"\x89PNG2", 2, 3, None)),
            ConsoleLines([("stdout", 10.0, None, "epoch 1")]),
            ConsoleLines([("stderr", 11.0, 1, "warning: x")]),
            SummaryPatch({"best": {"acc": 0.5, "old": 1}}), SummaryPatch({"best": {"old": None}}),
            ConfigSet({"lr": 0.2, "bs": 8}), graph, profile,
        ],
    )
    assert w.write(start.id, batch, final=FinalStatus("finished", 2000.0), now=3.0) == []
    r = open_backend(pg_url, "read")
    (row,) = r.runs(RunFilter(project="p", tag="a"))
    assert row.status == "finished" and row.ended == 2000.0 and row.started == 1000.0
    assert json.loads(row.summary) == {"best": {"acc": 0.5}}
    assert json.loads(row.config) == {"lr": 0.2, "bs": 8}
    assert abs(row.heartbeat - time.time()) < 60  # the server's clock, in this host's
    assert r.runs(RunFilter(tag="zzz")) == []
    assert [(v.key, v.value, v.step) for v in r.last_values(RunFilter(project="p"))] == [("acc", 0.5, 5)]
    assert [k.key for k in r.keys(start.id)] == ["acc", "img", "note", "w"]
    hs = r.histograms(start.id, "w", None, None)
    assert [p.step for p in hs] == [1, 2] and hs[0].histogram.counts.tolist() == h.counts.tolist()
    assert [p.step for p in r.histograms_after(start.id, "w", 1)] == [2]
    assert [t.text for t in r.texts(start.id, "note")] == ["hello [b]not markup[/b]"]
    assert r.texts_after(start.id, "note", 1) == []
    assert r.image_keys(start.id) == ["img"] and r.image_keys("nope") == []
    assert r.image_steps(start.id, "img") == [1] and r.image_steps(start.id, "x") == []
    assert [(m.step, m.wall, m.image.caption, m.image.data, m.image.width)
            for m in r.images_after(start.id, "img", 0, 10)] == [
        (1, 10.0, "cap", b"\x89PNG...", 2), (1, 12.0, None, b"\x89PNG2", 2)]
    assert [m.wall for m in r.images_after(start.id, "img", 1, 10)] == [12.0]
    assert [m.wall for m in r.images_after(start.id, "img", 0, 1)] == [10.0]
    assert r.image_at(start.id, "img", 1).image.data == b"\x89PNG2"  # the last one there
    assert r.image_at(start.id, "img", 7) is None and r.image_at(start.id, "x", 1) is None
    assert [(c.seq, c.text) for c in r.console_lines(start.id)] == [(0, "epoch 1"), (1, "warning: x")]
    assert [c.text for c in r.console_lines(start.id, stream="stderr")] == ["warning: x"]
    assert [c.text for c in r.console_lines(start.id, grep="%")] == []
    assert [c.seq for c in r.console_lines(start.id, after_seq=0)] == [1]
    assert [c.seq for c in r.console_lines(start.id, since_step=1)] == [1]
    assert [c.seq for c in r.console_lines(start.id, limit=1)] == [0]
    assert [c.seq for c in r.console_lines(start.id, limit=1, last=True)] == [1]
    assert r.console_seq_at_step(start.id, 1) == 1 and r.console_seq_at_step(start.id, 2) is None
    (g,) = r.graphs(start.id)
    back = r.graph(g.id)
    assert [n.name for n in back.nodes] == ["a", "b"] and back.edges == [(0, 1)] and back.raw == b"xyz"
    (p,) = r.profiles(start.id)
    assert p.op_count == 1
    assert r.profile(p.id).trace == b"trace" and r.profile(p.id).step_times_ns == [(3, 9.0)]
    assert r.profile(p.id, with_trace=False).trace is None
    assert r.projects() == ["p"]
    assert r.run_candidates(start.id[:3].upper()) == [start.id]
    assert r.run_candidates(start.name) == [start.id]
    assert r.run_candidates("%") == [] and r.run_candidates("_") == []
    # edits
    w.rename_run(start.id, "renamed")
    w.set_tags(start.id, ["x", "y"])
    w.set_notes(start.id, "n")
    w.set_run_times(start.id, 500.0, None)
    w.set_run_host(start.id, "elsewhere")
    (row,) = r.runs(RunFilter())
    assert (row.name, json.loads(row.tags), row.notes, row.started, row.host, row.pid) == (
        "renamed", ["x", "y"], "n", 500.0, "elsewhere", None)
    resumed = w.resume_run(start.id, config={"lr": 0.3}, tags=["z"], notes=None, host="h2",
                           pid=9, now=5.0)
    assert resumed is not None and resumed.next_step == 6 and resumed.tags == ["x", "y", "z"]
    assert resumed.config == {"lr": 0.3, "bs": 8}
    assert w.resume_run("nope", config={}, tags=[], notes=None, host="h", pid=1, now=1.0) is None
    assert w.load_run(start.id).name == "renamed" and w.load_run("nope") is None
    assert w.delete_runs([start.id, "nope"]) == 1
    assert r.runs(RunFilter()) == [] and r.keys(start.id) == []
    with pytest.raises(RunGoneError):
        w.write(start.id, WriteBatch(), now=1.0)


def test_a_part_the_server_cannot_hold_is_dropped_alone(pg_url: str) -> None:
    w = open_backend(pg_url, "write")
    w.create_run(_new())
    dropped = w.write("abc12345", WriteBatch(
        points=[_points("loss", [0], [1.0])],
        records=[TextItem("t", 0, 1.0, "nul \x00 inside"), TextItem("ok", 0, 1.0, "fine")]), now=1.0)
    assert [(d.kind, d.key, d.count) for d in dropped] == [("text", "t", 1)]
    r = open_backend(pg_url, "read")
    assert [k.key for k in r.keys("abc12345")] == ["loss", "ok"]


def test_schema_is_versioned_and_a_newer_one_is_refused(pg_server, pg_url: str) -> None:
    with pytest.raises(StoreError, match="no tracker store yet"):
        open_backend(pg_url, "read")  # a reader never creates it
    open_backend(pg_url, "write").close()
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM tracker_schema").fetchone()[0] == SCHEMA_VERSION
        conn.execute("UPDATE tracker_schema SET version = %s", (SCHEMA_VERSION + 1,))
    for mode in ("read", "write"):
        with pytest.raises(SchemaTooNewError) as err:
            open_backend(pg_url, mode)  # type: ignore[arg-type]
        assert "newer tracker" in str(err.value) and "\n" not in str(err.value)


def _first_use(url: str) -> str:
    try:
        w = open_backend(url, "write")
        w.close()
        return "ok"
    except Exception as exc:  # reported to the test
        return repr(exc)


def test_eight_processes_creating_the_schema_at_once(pg_url: str) -> None:
    with mp.get_context("spawn").Pool(8) as pool:
        assert pool.map(_first_use, [pg_url] * 8) == ["ok"] * 8


def test_errors_are_one_line_and_never_show_the_password(pg_server) -> None:
    url = pg_server.url("nosuchdb", password="hunter2-secret")
    with pytest.raises(StoreError) as err:
        open_backend(url, "write")
    text = str(err.value)
    assert "hunter2-secret" not in text and "\n" not in text and "***" in text
    assert "hunter2-secret" not in repr(err.value)
    down = "postgresql://alice:hunter2-secret@127.0.0.1:1/x?connect_timeout=2"
    with pytest.raises(StorageFault) as err:
        open_backend(down, "read")
    assert "hunter2-secret" not in str(err.value) and "alice:***@127.0.0.1:1" in str(err.value)


def test_handles_say_where_they_are_without_the_password(pg_server, pg_url: str) -> None:
    w = open_backend(pg_url, "write")
    assert isinstance(w, PostgresWriteBackend) and w.location.startswith("postgresql://")
    r = open_backend(pg_url, "read")
    assert isinstance(r, PostgresReadBackend) and r.location == w.location


def _writer_process(args: tuple[str, int, int]) -> tuple[str, int]:
    """A writer on its own 'host': creates a run (default name), logs ``flushes`` batches."""
    url, worker, flushes = args
    from tracker.names import new_run_id

    w = open_backend(url, "write")
    start = w.create_run(_new(run_id=new_run_id(), project="sweep", name=None))
    for f in range(flushes):
        steps = np.arange(f * 1000, (f + 1) * 1000)
        w.write(start.id, WriteBatch(points=[_points("loss", steps, steps * 0.5),
                                             _points("acc", steps[:10], steps[:10] * 1.0)]),
                now=time.time())
    w.write(start.id, WriteBatch(), final=FinalStatus("finished", time.time()), now=time.time())
    w.close()
    return start.id, worker


def test_eight_writers_lose_and_double_nothing(pg_url: str) -> None:
    open_backend(pg_url, "write").close()
    with mp.get_context("spawn").Pool(8) as pool:
        done = pool.map(_writer_process, [(pg_url, i, 25) for i in range(8)])
    ids = [run_id for run_id, _ in done]
    assert len(set(ids)) == 8
    r = open_backend(pg_url, "read")
    rows = r.runs(RunFilter(project="sweep"))
    assert sorted(row.id for row in rows) == sorted(ids)
    assert {row.status for row in rows} == {"finished"}
    # default names are numbered 1..8 without a repeat (one per-project lock while numbering)
    assert sorted(int(row.name.rsplit("-", 1)[1]) for row in rows) == list(range(1, 9))
    for run_id in ids:
        s = r.series(run_id, "loss", None, None)
        assert s.steps.tolist() == list(range(25_000))
        assert r.series(run_id, "acc", None, None).steps.size == 250


def test_a_select_only_role_reads_everything(pg_server, pg_url: str) -> None:
    w = open_backend(pg_url, "write")
    w.create_run(_new())
    w.write("abc12345", WriteBatch(points=[_points("loss", [0, 1], [1.0, 2.0])],
                                   records=[TextItem("t", 0, 1.0, "x")]), now=1.0)
    w.close()
    db = pg_url.split("@/")[1].split("?")[0]
    import uuid

    role = "reader_" + uuid.uuid4().hex[:8]
    pg_server.admin(f'CREATE ROLE {role} LOGIN; GRANT CONNECT ON DATABASE "{db}" TO {role};'
                    f" GRANT USAGE ON SCHEMA public TO {role};"
                    f" GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};", dbname=db)
    url = pg_server.url(db, user=role)
    r = open_backend(url, "read")
    (row,) = r.runs(RunFilter())
    assert row.id == "abc12345"
    assert r.series("abc12345", "loss", None, None).values.tolist() == [1.0, 2.0]
    assert r.reduced("abc12345", "loss", 10, None, None).counts.sum() == 2
    assert [t.text for t in r.texts("abc12345", "t")] == ["x"]
    # the role cannot write: an edit is refused with one line that says what to do
    edit = open_backend(url, "write", for_run=False)
    with pytest.raises(StoreError, match="permission denied") as err:
        edit.rename_run("abc12345", "x")
    assert "\n" not in str(err.value)
