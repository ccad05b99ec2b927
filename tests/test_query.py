"""The read API: reductions agree with brute force, ranges, live tails, deletes and edits."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracker
from tracker.errors import RunNotFoundError


@pytest.fixture
def db_path(any_store: Path) -> Path:
    """Every test here runs on both backends (SQLite and PostgreSQL)."""
    return any_store


def brute_force(steps, values, buckets, lo, hi):
    edges = np.linspace(lo, hi + 1, buckets + 1)
    mins = np.full(buckets, np.nan)
    maxs = np.full(buckets, np.nan)
    for b in range(buckets):
        sel = (steps >= edges[b]) & (steps < edges[b + 1]) & ~np.isnan(values)
        if sel.any():
            mins[b], maxs[b] = values[sel].min(), values[sel].max()
    return mins, maxs


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.db"
    rng = np.random.default_rng(7)
    n = 300_000
    values = np.cumsum(rng.normal(size=n))
    values[rng.integers(0, n, 50)] += 1000.0  # spikes that must survive any reduction
    values[rng.integers(0, n, 50)] = np.nan
    steps = np.arange(n) * 2
    with tracker.init("big", db=path) as run:
        for a in range(0, n, 7_777):  # uneven flushes: blocks continue across flushes
            run.log_series("loss", steps[a:a + 7_777], values[a:a + 7_777])
            run.flush()
    return path, run.id, steps, values


@pytest.mark.parametrize(
    ("start", "end", "buckets"),
    [(None, None, 1000), (None, None, 37), (1000, 400_000, 1000), (123_457, 123_999, 50),
     (599_000, None, 10), (0, 0, 5), (-50, 10, 3)],
)
def test_reduced_matches_brute_force_up_to_one_bucket(big_store, start, end, buckets):
    path, run_id, steps, values = big_store
    with tracker.open_store(path) as store:
        red = store.reduced(run_id, "loss", buckets, start, end)
    lo = max(0 if start is None else start, 0)
    hi = min(steps[-1] if end is None else end, steps[-1])
    sel = (steps >= lo) & (steps <= hi)
    assert red.counts.sum() == np.count_nonzero(sel & ~np.isnan(values))
    assert np.nanmax(red.maxs) == np.nanmax(values[sel])
    assert np.nanmin(red.mins) == np.nanmin(values[sel])
    mins, maxs = brute_force(steps[sel], values[sel], buckets, lo, hi)
    # A block that straddles a bucket edge lands in one neighbour: compare with a 1-bucket slack.
    for b in range(buckets):
        if np.isnan(maxs[b]):
            continue
        window = slice(max(b - 1, 0), b + 2)
        assert np.nanmax(red.maxs[window]) >= maxs[b]
        assert np.nanmin(red.mins[window]) <= mins[b]


@pytest.mark.parametrize(("start", "end", "buckets"), [(1000, 60_000, 1000), (None, None, 3000)])
def test_reduced_is_exact_below_128_points_per_bucket(big_store, start, end, buckets):
    """There, reading the points beats reading block rows, and gives exact buckets."""
    path, run_id, steps, values = big_store
    with tracker.open_store(path) as store:
        red = store.reduced(run_id, "loss", buckets, start, end)
    lo, hi = red.start, red.end
    sel = (steps >= lo) & (steps <= hi)
    mins, maxs = brute_force(steps[sel], values[sel], buckets, lo, hi)
    np.testing.assert_array_equal(red.mins, mins)
    np.testing.assert_array_equal(red.maxs, maxs)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    points=st.lists(
        st.tuples(st.integers(-1000, 1000), st.floats(allow_nan=True, allow_infinity=True)),
        min_size=1, max_size=300,
    ),
    buckets=st.integers(1, 40),
)
def test_reduced_is_exact_for_small_or_unordered_series(tmp_path, points, buckets):
    path = tmp_path / f"h{abs(hash((tuple(points), buckets)))}.db"
    with tracker.init("h", db=path) as run:
        for step, value in points:
            run.log({"v": value}, step=step)
    steps = np.array([p[0] for p in points])
    values = np.array([p[1] for p in points], dtype=float)
    with tracker.open_store(path) as store:
        red = store.reduced(run.id, "v", buckets)
        s = store.series(run.id, "v")
    order = np.argsort(steps, kind="stable")
    np.testing.assert_array_equal(s.steps, steps[order])
    np.testing.assert_array_equal(s.values, values[order])  # NaN == NaN for this helper
    mins, maxs = brute_force(steps, values, buckets, steps.min(), steps.max())
    np.testing.assert_array_equal(red.mins, mins)
    np.testing.assert_array_equal(red.maxs, maxs)


def test_series_ranges_and_live_tail(db_path):
    with tracker.init("p", db=db_path) as run:
        run.log_series("a", np.arange(100), np.arange(100.0))
        run.flush()
        with tracker.open_store(db_path) as store:
            assert store.series(run.id, "a", 10, 19).values.tolist() == list(range(10, 20))
            assert len(store.series(run.id, "a", 200)) == 0
            assert len(store.series(run.id, "missing")) == 0
            run.log({"a": 7.0}, step=3)
            run.flush()
            tail = store.points_after(run.id, "a", 100)
            assert (tail.steps.tolist(), tail.values.tolist()) == ([3], [7.0])
            assert store.series(run.id, "a", 3, 3).values.tolist() == [3.0, 7.0]


def test_resolve_edit_and_delete(db_path):
    runs = [tracker.init("p", name=n, db=db_path) for n in ("alpha", "beta", "beta")]
    for r in runs:
        r.log({"x": 1.0})
        r.log_histogram("h", [1.0])
        r.log_text("t", "x")
        r.finish()
    with tracker.open_store(db_path) as store:
        assert store.resolve("alpha") == runs[0].id
        assert store.resolve(runs[1].id[:6]) == runs[1].id
        with pytest.raises(RunNotFoundError, match="matches 2 runs"):
            store.resolve("beta")
        with pytest.raises(RunNotFoundError):
            store.resolve("gamma")
        store.rename_run(runs[0].id, "renamed")
        store.set_tags(runs[0].id, ["x", "y"])
        store.set_notes(runs[0].id, "note")
        info = store.run("renamed")
        assert (info.tags, info.notes) == (["x", "y"], "note")
        assert [r.id for r in store.runs(tag="y")] == [runs[0].id]
        assert store.delete_runs([runs[1].id, runs[2].id]) == 2
        assert [r.id for r in store.runs()] == [runs[0].id]
        tables = ("point_chunks", "point_blocks", "histograms", "texts", "series")
        left = [store.backend.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables]
        assert left == [1, 4, 1, 1, 3]  # only the remaining run's rows (4 block levels, 3 keys)


def nested(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def set_config_text(db, run_id: str, text: str) -> None:
    """Write a run's config column as another program could (past the writer's own checks)."""
    if str(db).startswith("postgresql://"):
        import psycopg

        from tracker.urls import ServerURL

        with psycopg.connect(ServerURL(str(db)).conninfo, autocommit=True) as conn:
            conn.execute("UPDATE runs SET config = %s WHERE id = %s", (text, run_id))
        return
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET config = ? WHERE id = ?", (text, run_id))
    conn.close()


def test_runs_list_every_field_and_only_too_deep_config_is_damaged(db_path):
    """The run list's fields as logged, on either backend; a config nested past the readers'
    limit (read_rows.MAX_JSON_DEPTH) reads as damaged, however its text is made up."""
    from tracker.read_rows import MAX_JSON_DEPTH

    configs = {
        "at-limit": nested(MAX_JSON_DEPTH),
        "too-deep": nested(MAX_JSON_DEPTH + 1),
        "brackets-in-text": {"s": "{[" * MAX_JSON_DEPTH, "t": ["[", "{"]},
    }
    for name, config in configs.items():
        with tracker.init("p", name, tags=["t"] if name != "too-deep" else [],
                          db=db_path) as run:
            run.log({"loss": 0.5, "acc": 0.25}, step=3)
            run.log({"loss": 0.125}, step=4)
        set_config_text(db_path, run.id, json.dumps(config))  # deeper than init accepts
    running = tracker.init("p", "running", db=db_path)
    running.log({"loss": 1.0}, step=0)
    running.flush()
    try:
        with tracker.open_store(db_path) as store:
            listed = {r.name: r for r in store.runs()}
            assert list(listed) == ["running", *reversed(configs)]  # newest first
            assert listed["at-limit"].config == configs["at-limit"]
            assert listed["at-limit"].damaged is None
            assert listed["brackets-in-text"].config == configs["brackets-in-text"]
            assert listed["brackets-in-text"].damaged is None
            assert listed["too-deep"].config == {}
            assert "config" in (listed["too-deep"].damaged or "")
            assert listed["at-limit"].last == {"loss": 0.125, "acc": 0.25}
            assert listed["at-limit"].last_step == 4 and listed["at-limit"].tags == ["t"]
            assert listed["running"].status == "running"
            assert abs(listed["running"].heartbeat - time.time()) < 30  # in this host's clock
            assert [r.name for r in store.runs(tag="t")] == ["brackets-in-text", "at-limit"]
            assert store.runs(tag="t", last_values=False)[0].last == {}
    finally:
        running.finish()


def test_graphs_and_profiles_round_trip(db_path):
    g = tracker.Graph(name="mlp", framework="torch", source="fx", raw="code", raw_format="fx_code")
    a = g.add(tracker.GraphNode("x", "placeholder", kind="input", shape="[4, 8]"))
    b = g.add(tracker.GraphNode("fc", "Linear", scope="model", params=72, attrs={"bias": True}))
    g.connect(a, b)
    p = tracker.Profile(
        ops=[tracker.ProfileOp("aten::mm", "aten", calls=3, self_ns=300.0, total_ns=400.0)],
        step_times_ns=[(0, 1e6), (1, 2e6)], framework="torch", trace=b"{}",
        trace_format="torch_chrome_json", trace_name="worker0",
    )
    with tracker.init("p", db=db_path) as run:
        run.log_graph(g)
        run.log_profile(p)
    with tracker.open_store(db_path) as store:
        (ginfo,) = store.graphs(run.id)
        (pinfo,) = store.profiles(run.id)
        g2 = store.graph(ginfo.id)
        p2 = store.profile(pinfo.id)
    assert (ginfo.node_count, ginfo.edge_count, ginfo.total_params) == (2, 1, 72)
    assert g2.nodes == g.nodes and g2.edges == [(0, 1)] and g2.raw == b"code"
    assert p2.ops == p.ops and p2.step_times_ns == p.step_times_ns and p2.trace == b"{}"
    assert pinfo.op_count == 1


def test_points_after_reads_only_new_points_across_chunks(db_path):
    with tracker.init("p", db=db_path) as run:
        run.log_series("a", np.arange(70_000), np.arange(70_000.0))  # two chunks in one flush
        run.flush()
        run.log_series("a", np.arange(5) + 70_000, np.arange(5.0) + 70_000)
        run.flush()
        with tracker.open_store(db_path) as store:
            for count in (0, 1, 65_535, 65_536, 65_537, 69_999, 70_000, 70_004, 70_005, 80_000):
                tail = store.points_after(run.id, "a", count)
                assert tail.steps.tolist() == list(range(count, 70_005)), count
                assert tail.values.tolist() == [float(i) for i in range(count, 70_005)]


@pytest.mark.parametrize("n", [40, 20_000])  # raw points, and block summaries
def test_huge_finite_values_reduce_to_the_right_means_without_warnings(tmp_path, n):
    big = np.where(np.arange(n) % 2 == 0, 1.5e308, 1.0e308)  # pairs sum past float64's max
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning would fail here, in this thread
        with tracker.init("p", db=tmp_path / "big.db") as run:
            run.log_series("v", np.arange(n), big)
            run.log_series("w", np.arange(n), -big)
            run.flush()
        with tracker.open_store(tmp_path / "big.db") as store:
            up, down = store.reduced(run.id, "v", 4), store.reduced(run.id, "w", 4)
    np.testing.assert_allclose(up.means, 1.25e308, rtol=1e-12)
    np.testing.assert_allclose(down.means, -1.25e308, rtol=1e-12)
    assert up.maxs.tolist() == [1.5e308] * 4 and down.mins.tolist() == [-1.5e308] * 4
