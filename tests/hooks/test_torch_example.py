"""examples/torch_mnist_like.py runs and leaves a run with curves, statistics, a graph and a profile."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import tracker

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "torch_mnist_like.py"


def test_example_trains_and_stores_everything(db_path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), "--steps", "110", "--db", str(db_path)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        keys = {k.key: k for k in store.keys(run.id)}
        loss = store.series(run.id, "train/loss").values
        (profile,) = store.profiles(run.id)
        (graph,) = store.graphs(run.id)
    assert run.status == "finished" and run.config["optimizer"]["momentum"] == 0.9
    assert len(loss) == 110 and loss[-10:].mean() < loss[:10].mean()  # it learns
    assert keys["grad_norm_total"].count == 3 and keys["grads/head.weight"].kind == "histogram"
    assert (profile.step_from, profile.step_to) == (101, 105) and profile.op_count > 10
    assert graph.source == "fx" and graph.total_params == 20490
    assert run.summary["final_loss"] == loss[-1]
