"""Logging through the public API and reading it back through tracker.open_store."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.errors import NoActiveRunError, RunNotFoundError


@pytest.fixture
def db_path(any_store: Path) -> Path:
    """Every test here runs on both backends (SQLite and PostgreSQL)."""
    return any_store


def read(db_path, run_id, key):
    with tracker.open_store(db_path) as store:
        return store.series(run_id, key)


def test_log_and_read_back(db_path):
    run = tracker.init("mnist", "baseline", config={"lr": 1e-3, "layers": [64, 64]}, db=db_path)
    for step in range(100):
        run.log({"train/loss": 1.0 / (step + 1), "train/acc": step / 100}, step=step)
    run.finish()
    with tracker.open_store(db_path) as store:
        (info,) = store.runs()
        assert (info.project, info.name, info.status) == ("mnist", "baseline", "finished")
        assert info.config == {"lr": 1e-3, "layers": [64, 64]}
        assert info.last == {"train/loss": 0.01, "train/acc": 0.99}
        assert info.last_step == 99
        series = store.series(run.id, "train/loss")
    np.testing.assert_array_equal(series.steps, np.arange(100))
    np.testing.assert_array_equal(series.values, 1.0 / (np.arange(100) + 1))
    assert np.all(np.diff(series.walls) >= 0)


def test_step_auto_increments_and_follows_explicit_steps(db_path):
    with tracker.init("p", db=db_path) as run:
        run.log({"a": 1.0})
        run.log({"a": 2.0})
        run.log({"a": 3.0}, step=10)
        run.log({"a": 4.0})
        assert run.step == 11
    s = read(db_path, run.id, "a")
    assert s.steps.tolist() == [0, 1, 10, 11]


def test_an_earlier_explicit_step_does_not_move_the_default_step_back(db_path):
    # What a hook does when it logs a recorded step late, maybe from another thread.
    with tracker.init("p", db=db_path) as run:
        for _ in range(5):
            run.log({"a": 1.0})
        run.log({"stat": 2.0}, step=1)
        assert run.step == 4
        run.log({"a": 3.0})
    assert read(db_path, run.id, "a").steps.tolist() == [0, 1, 2, 3, 4, 5]


def test_flush_hooks_run_before_every_flush_and_at_finish(db_path, capsys):
    calls: list[str] = []

    class Gatherer:
        def __init__(self, run: tracker.Run) -> None:
            self.run, self.rows = run, [(0, 1.0), (1, 2.0)]
            run.add_flush_hook(self.hand_over)

        def hand_over(self) -> None:
            calls.append("gatherer")
            for step, value in self.rows:
                self.run.log({"g": value}, step=step)
            self.rows = []

    def broken() -> None:
        raise RuntimeError("hook bug")

    run = tracker.init("p", db=db_path)
    gatherer = Gatherer(run)
    run.add_flush_hook(broken)
    run.add_flush_hook(lambda: calls.append("plain"))
    assert run.flush()
    assert calls == ["gatherer", "plain"]
    assert read(db_path, run.id, "g").steps.tolist() == [0, 1]  # handed over, then written
    gatherer.rows = [(2, 3.0)]
    run.finish()  # what exit and SIGTERM call
    assert read(db_path, run.id, "g").steps.tolist() == [0, 1, 2]
    assert "hook bug" in capsys.readouterr().err

    other = tracker.init("p", db=db_path)
    gatherer = Gatherer(other)
    other.remove_flush_hook(gatherer.hand_over)
    calls.clear()
    other.finish()
    assert calls == []


def test_repeated_and_backward_steps_are_all_kept(db_path):
    with tracker.init("p", db=db_path) as run:
        for step, value in [(0, 1.0), (1, 2.0), (1, 3.0), (0, 4.0), (2, 5.0), (1, 6.0)]:
            run.log({"x": value}, step=step)
    s = read(db_path, run.id, "x")
    assert s.steps.tolist() == [0, 0, 1, 1, 1, 2]
    assert s.values.tolist() == [1.0, 4.0, 2.0, 3.0, 6.0, 5.0]  # ties stay in logging order


def test_nan_and_infinities_round_trip(db_path):
    with tracker.init("p", db=db_path) as run:
        run.log({"v": math.nan})
        run.log({"v": math.inf})
        run.log({"v": -math.inf})
        run.log({"v": 0.0})
    s = read(db_path, run.id, "v")
    assert math.isnan(s.values[0]) and s.values[1] == math.inf and s.values[2] == -math.inf
    with tracker.open_store(db_path) as store:
        (key,) = store.keys(run.id)
        assert (key.min, key.max, key.last_value) == (-math.inf, math.inf, 0.0)


def test_values_of_many_kinds(db_path):
    with tracker.init("p", db=db_path) as run:
        run.log({"int": 3, "bool": True, "np32": np.float32(0.5), "np_int": np.int64(7),
                 "arr0d": np.array(2.5), "arr1": np.array([4.0])})
    with tracker.open_store(db_path) as store:
        last = store.runs()[0].last
    assert last == {"int": 3.0, "bool": 1.0, "np32": 0.5, "np_int": 7.0, "arr0d": 2.5, "arr1": 4.0}


def test_histograms_and_text(db_path):
    values = np.random.default_rng(0).normal(size=1000)
    with tracker.init("p", db=db_path) as run:
        run.log({"loss": 1.0}, step=5)
        run.log_histogram("w", values)  # step defaults to the last logged step
        run.log_histogram("w", [1, 2, 3], step=6, bins=3)
        run.log_text("notes", "some **markdown** [red]x", step=7)
    with tracker.open_store(db_path) as store:
        hists = store.histograms(run.id, "w")
        texts = store.texts(run.id, "notes")
        kinds = {(k.key, k.kind) for k in store.keys(run.id)}
    assert [h.step for h in hists] == [5, 6]
    h = hists[0].histogram
    assert h.count == 1000 and h.counts.sum() == 1000 and len(h.edges) == 65
    assert h.min == values.min() and h.max == values.max()
    assert hists[1].histogram.counts.tolist() == [1.0, 1.0, 1.0]
    assert [(t.step, t.text) for t in texts] == [(7, "some **markdown** [red]x")]
    assert kinds == {("loss", "scalar"), ("w", "histogram"), ("notes", "text")}


def test_context_manager_marks_failed_on_exception(db_path):
    with pytest.raises(RuntimeError):
        with tracker.init("p", db=db_path) as run:
            run.log({"a": 1.0})
            raise RuntimeError("boom")
    with tracker.open_store(db_path) as store:
        info = store.run(run.id)
    assert info.status == "failed" and info.last == {"a": 1.0}


def test_module_level_api_acts_on_current_run(db_path):
    tracker.finish()
    with pytest.raises(NoActiveRunError):
        tracker.log({"a": 1.0})
    run = tracker.init("p", db=db_path)
    tracker.log({"a": 1.0})
    tracker.log_text("t", "hi")
    tracker.log_histogram("h", [1.0, 2.0])
    assert tracker.current_run() is run
    tracker.finish()
    assert tracker.current_run() is None
    with tracker.open_store(db_path) as store:
        assert store.run(run.id).status == "finished"
        assert len(store.keys(run.id)) == 3


def test_resume_appends_after_the_last_step(db_path):
    with tracker.init("p", "first", config={"lr": 0.1}, db=db_path, tags=["a"]) as run:
        for i in range(5):
            run.log({"loss": float(i)})
    with tracker.init(db=db_path, resume=run.id, config={"epochs": 3}, tags=["b"]) as again:
        again.log({"loss": 10.0})
    assert again.id == run.id
    with tracker.open_store(db_path) as store:
        info = store.run(run.id)
        s = store.series(run.id, "loss")
    assert s.steps.tolist() == [0, 1, 2, 3, 4, 5]
    assert info.config == {"lr": 0.1, "epochs": 3} and info.tags == ["a", "b"]
    with pytest.raises(RunNotFoundError):
        tracker.init(db=db_path, resume="nope")


def test_flush_makes_data_readable_before_finish(db_path):
    run = tracker.init("p", db=db_path)
    run.log({"a": 1.0})
    assert run.flush()
    assert read(db_path, run.id, "a").values.tolist() == [1.0]
    with tracker.open_store(db_path) as store:
        assert store.run(run.id).status == "running"
    run.finish()
    run.finish()  # twice is fine


def test_logging_after_finish_warns_and_stores_nothing(db_path):
    run = tracker.init("p", db=db_path)
    run.finish()
    with pytest.warns(UserWarning, match="finished"):
        run.log({"a": 1.0})


def test_names_and_ids(db_path):
    runs = [tracker.init("proj", db=db_path) for _ in range(3)]
    for r in runs:
        r.finish()
    assert len({r.id for r in runs}) == 3
    assert all(len(r.id) == 8 and r.id.isalnum() for r in runs)
    assert [r.name.rsplit("-", 1)[1] for r in runs] == ["1", "2", "3"]


def test_config_accepts_dataclasses_and_namespaces(db_path):
    import argparse
    import dataclasses
    from pathlib import Path

    @dataclasses.dataclass
    class Cfg:
        lr: float = 0.1
        out: Path = Path("/tmp/x")

    with tracker.init("p", config=Cfg(), db=db_path) as a:
        pass
    with tracker.init("p", config=argparse.Namespace(batch=32, arr=np.arange(2)), db=db_path) as b:
        pass
    with tracker.open_store(db_path) as store:
        assert store.run(a.id).config == {"lr": 0.1, "out": "/tmp/x"}
        assert store.run(b.id).config == {"batch": 32, "arr": [0, 1]}
    with pytest.raises(TypeError, match="config"):
        tracker.init("p", config=[1, 2], db=db_path)


def test_ranks_zero_disables_other_ranks(db_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    run = tracker.init("p", db=db_path)
    assert isinstance(run, tracker.DisabledRun)
    run.log({"a": 1.0})
    run.log_histogram("h", [1.0])
    run.finish()
    if isinstance(db_path, Path):
        assert not db_path.exists()
    else:  # nothing was written: not even the schema
        with pytest.raises(tracker.StoreError, match="no tracker store yet"):
            tracker.open_store(db_path)
    own = tracker.init("p", db=db_path, ranks="all")
    own.finish()
    with tracker.open_store(db_path) as store:
        info = store.run(own.id)
    assert (info.rank, info.world_size) == (1, 2)


def test_attach_logs_into_another_processes_run(db_path):
    owner = tracker.init("p", db=db_path)
    other = tracker.attach(owner.id, db=db_path)
    other.log({"rank1/loss": 2.0}, step=3)
    other.finish()
    with tracker.open_store(db_path) as store:
        assert store.run(owner.id).status == "running"  # the owner decides the status
    owner.log({"loss": 1.0}, step=3)
    owner.finish()
    with tracker.open_store(db_path) as store:
        info = store.run(owner.id)
    assert info.status == "finished" and info.last == {"rank1/loss": 2.0, "loss": 1.0}


def test_log_series_keeps_wall_times(db_path):
    with tracker.init("p", db=db_path) as run:
        run.log_series("imported", np.arange(5) * 10, np.linspace(0, 1, 5), 1e9 + np.arange(5))
        run.log({"imported": 7.0})
    s = read(db_path, run.id, "imported")
    assert s.steps.tolist() == [0, 10, 20, 30, 40, 41]
    assert s.walls[:5].tolist() == [1e9, 1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4]
    with pytest.raises(ValueError, match="imported"):
        run2 = tracker.init("p", db=db_path)
        run2.log_series("imported", [1, 2], [1.0])


@pytest.fixture
def frequent_thread_switches():
    import sys

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: interleavings show up
    yield
    sys.setswitchinterval(old)


def test_threads_logging_to_one_run_never_mix_their_values(db_path, frequent_thread_switches):
    import threading

    run = tracker.init("p", db=db_path)
    start = threading.Barrier(4)

    def worker(t: int) -> None:
        start.wait()
        for i in range(3000):
            run.log({f"t{t}/a": float(t), f"t{t}/b": float(t) + 0.5}, step=i)
            if i % 500 == 0:
                run.log({f"t{t}/int": t}, step=i)  # the slow path interleaves with the fast one

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.finish()
    with tracker.open_store(db_path) as store:
        for t in range(4):
            assert set(store.series(run.id, f"t{t}/a").values.tolist()) == {float(t)}
            assert set(store.series(run.id, f"t{t}/b").values.tolist()) == {t + 0.5}
            assert len(store.series(run.id, f"t{t}/a")) == 3000
            assert store.series(run.id, f"t{t}/int").values.tolist() == [float(t)] * 6
