"""examples/jax_mlp.py runs end to end and logs what its docstring promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import tracker

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jax_mlp.py"


@pytest.mark.slow
def test_example_logs_metrics_grad_norms_graphs_and_a_profile(db_path: Path) -> None:
    subprocess.run([sys.executable, str(EXAMPLE), "--db", str(db_path), "--steps", "60"],
                   check=True, timeout=300, capture_output=True)

    with tracker.open_store(db_path) as store:
        (run,) = store.runs(project="jax-mlp")
        keys = {k.key for k in store.keys(run.id)}
        assert {"train/loss", "train/rmse", "grad_norm/global", "grad_norm/head/kernel"} <= keys
        assert len(store.series(run.id, "train/loss")) == 60
        assert store.series(run.id, "grad_norm/global").steps.tolist() == [0, 10, 20, 30, 40, 50]
        assert [(g.source, g.name) for g in store.graphs(run.id)] == [
            ("jaxpr", "train_step"), ("nnx", "MLP")
        ]
        (profile,) = store.profiles(run.id)
        assert (profile.step_from, profile.step_to, profile.trace_format) == (50, 54, "xplane")
        assert profile.op_count > 0
