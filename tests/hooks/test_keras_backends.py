"""TrackerCallback on the JAX and torch Keras backends, one subprocess each (KERAS_BACKEND is fixed
at Keras's first import), read back from the store file; and TensorFlow stays out of those processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tracker

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import tracker
    from tracker.hooks.keras import TrackerCallback

    db, profile = sys.argv[1], sys.argv[2] == "1"
    run = tracker.init("backends", db=db)
    inp = keras.Input((8,), name="x")
    h = keras.layers.Dense(16, activation="relu", name="d1")(inp)
    h2 = keras.layers.Dense(16, name="d2")(h)
    out = keras.layers.Dense(3, name="out")(keras.layers.Add(name="add")([h, h2]))
    model = keras.Model(inp, out, name="res")
    # From logits: on raw Dense outputs a probability loss clips, and with an unlucky
    # initialisation every gradient was zero (the weights, and their histograms, never changed).
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x, y = rng.random((48, 8), dtype=np.float32), rng.integers(0, 3, 48)
    kwargs = {"profile_batches": (1, 3)} if profile else {}
    kwargs["gradient_sample"] = (x[:16], y[:16])
    model.fit(x, y, batch_size=8, epochs=2, validation_data=(x[:16], y[:16]), verbose=0,
              callbacks=[TrackerCallback(run, log_every=2, histograms=True, **kwargs)])
    run.finish()
    print(json.dumps({"run": run.id, "tensorflow_loaded": "tensorflow" in sys.modules}))
    """
)


def _fit_in(backend: str, db_path: Path, *, profile: bool) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(db_path), "1" if profile else "0"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # what the user sees: tracker's warnings on stderr (no logging configured in the script)
    result["warnings"] = [line for line in proc.stderr.splitlines() if line.startswith("tracker: ")]
    return result


def _check_metrics_graph_histograms(store: tracker.read.Reader, run_id: str, backend: str) -> None:
    assert store.series(run_id, "train/loss").steps.tolist() == [0, 2, 4, 6, 8, 10]
    assert store.series(run_id, "epoch/val_loss").steps.tolist() == [5, 11]
    assert store.series(run_id, "epoch/lr").values.tolist() == pytest.approx([1e-3, 1e-3])
    assert store.run(run_id).config["keras"]["backend"] == backend
    (info,) = store.graphs(run_id)
    graph = store.graph(info.id)
    names = [n.name for n in graph.nodes]
    assert names == ["x", "d1", "d2", "add", "out"]
    assert info.source == "keras_layers" and info.total_params == 467
    assert {(names[s], names[d]) for s, d in graph.edges} == {
        ("x", "d1"), ("d1", "d2"), ("d1", "add"), ("d2", "add"), ("add", "out")}
    assert graph.nodes[1].shape == "[None, 16]" and graph.nodes[1].attrs["activation"] == "relu"
    weights = store.histograms(run_id, "weights/d1/kernel")
    assert [p.step for p in weights] == [5, 11] and weights[0].histogram.count == 128
    # The weights changed between the epochs: histograms were read from the trained state.
    assert weights[0].histogram.sum != weights[1].histogram.sum


def test_jax_backend_logs_everything_without_importing_tensorflow(db_path: Path) -> None:
    result = _fit_in("jax", db_path, profile=True)
    assert result["tensorflow_loaded"] is False
    (warning,) = result["warnings"]  # gradients are TensorFlow/torch only: said once, then weights
    assert "gradient histograms need the tensorflow or torch backend" in warning
    store = tracker.open_store(db_path)
    _check_metrics_graph_histograms(store, result["run"], "jax")
    assert not [k for k in store.keys(result["run"], kind="histogram") if k.key.startswith("grads/")]
    (info,) = store.profiles(result["run"])
    assert (info.framework, info.step_from, info.step_to) == ("jax", 1, 3)
    profile = store.profile(info.id)
    assert profile.ops and {op.category for op in profile.ops} == {"hlo"}
    assert {op.module for op in profile.ops} >= {"jit_train_step"}
    assert [s for s, _ in profile.step_times_ns] == [1, 2, 3]
    assert profile.trace_format == "xplane" and profile.trace


@pytest.mark.slow
def test_torch_backend_logs_metrics_graph_and_says_profiles_need_tf_or_jax(db_path: Path) -> None:
    result = _fit_in("torch", db_path, profile=True)
    assert result["tensorflow_loaded"] is False
    assert len(result["warnings"]) == 1 and "tensorflow or jax backend" in result["warnings"][0]
    store = tracker.open_store(db_path)
    _check_metrics_graph_histograms(store, result["run"], "torch")
    assert store.profiles(result["run"]) == []
    grads = store.histograms(result["run"], "grads/d1/kernel")
    assert [p.step for p in grads] == [5, 11] and grads[0].histogram.count == 128
    assert grads[0].histogram.sum_squares > 0


def test_importing_the_hook_on_jax_does_not_import_tensorflow() -> None:
    code = "import sys, tracker.hooks.keras, tracker.hooks.keras.graph\nprint('tensorflow' in sys.modules)"
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_the_example_runs_and_logs_graph_and_profile(db_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "keras_mnist_like.py"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    proc = subprocess.run([sys.executable, str(example), "--db", str(db_path), "--epochs", "1"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    store = tracker.open_store(db_path)
    (info,) = store.runs(project="mnist-keras")
    assert [g.source for g in store.graphs(info.id)] == ["keras_config", "tf_function"]
    (profile,) = store.profiles(info.id)
    assert (profile.step_from, profile.step_to) == (20, 25) and profile.op_count > 0
    assert info.last["epoch/val_accuracy"] > 0


SCHEDULE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import tracker
    from tracker.hooks.keras import TrackerCallback

    run = tracker.init("schedule", db=sys.argv[1])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.Adam(schedule, beta_1=0.8), loss="mse")
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 2), "float32"), batch_size=4, epochs=2,
              verbose=0, callbacks=[TrackerCallback(run, log_every=0)])
    run.finish()
    print(json.dumps({"run": run.id, "tensorflow_loaded": "tensorflow" in sys.modules}))
    """
)


def test_a_learning_rate_schedule_on_jax_is_described_without_tensorflow(db_path: Path) -> None:
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    proc = subprocess.run([sys.executable, "-c", SCHEDULE_SCRIPT, str(db_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["tensorflow_loaded"] is False  # Keras's get_config() would have loaded it
    store = tracker.open_store(db_path)
    optimizer = store.run(result["run"]).config["keras"]["optimizer"]
    assert optimizer["class"] == "Adam" and optimizer["beta_1"] == pytest.approx(0.8)
    assert optimizer["learning_rate"]["class"] == "ExponentialDecay"
    assert optimizer["learning_rate"]["decay_rate"] == 0.5
    # The schedule is evaluated at each epoch end: 2 steps per epoch halve it each epoch.
    assert store.series(result["run"], "epoch/lr").values.tolist() == pytest.approx([0.05, 0.025])
