"""TrackerCallback on the TensorFlow backend (in process): metrics, config, graphs, histograms, profile."""

from __future__ import annotations

import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tracker  # noqa: E402
from tracker.errors import NoActiveRunError  # noqa: E402
from tracker.hooks.keras import TrackerCallback  # noqa: E402
from tracker.hooks.keras.graph import edges_from_config, layer_graph  # noqa: E402

# Keras fixes its backend at first import; the other backends are tested in subprocesses.
assert keras.backend.backend() == "tensorflow", "keras was imported with another KERAS_BACKEND"


def _residual_model() -> keras.Model:
    inp = keras.Input((8,), name="x")
    h = keras.layers.Dense(16, activation="relu", name="d1")(inp)
    h2 = keras.layers.Dense(16, name="d2")(h)
    added = keras.layers.Add(name="add")([h, h2])
    out = keras.layers.Dense(3, name="out")(added)
    model = keras.Model(inp, out, name="res")
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, 8), dtype=np.float32), rng.integers(0, 3, n)


def _fit(db_path, callback_kwargs, *, model=None, epochs=2, **fit_kwargs):
    run = tracker.init("keras-test", config={"seed": 0}, db=db_path)
    model = model or _residual_model()
    x, y = _data()
    fit_kwargs.setdefault("validation_data", (x[:16], y[:16]))
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0,
              callbacks=[TrackerCallback(run, **callback_kwargs)], **fit_kwargs)
    run.finish()
    return tracker.open_store(db_path), run.id


def test_batch_and_epoch_metrics_config_and_summary(db_path) -> None:
    store, run_id = _fit(db_path, {"log_every": 2})

    # 6 batches per epoch, steps count across epochs: 0..11, every 2nd one logged.
    loss = store.series(run_id, "train/loss")
    assert loss.steps.tolist() == [0, 2, 4, 6, 8, 10]
    assert np.all(np.isfinite(loss.values)) and np.all(loss.values > 0)
    assert store.series(run_id, "train/accuracy").steps.tolist() == [0, 2, 4, 6, 8, 10]
    # Epoch metrics at the epoch's last step, train and validation.
    for key in ("epoch/loss", "epoch/accuracy", "epoch/val_loss", "epoch/val_accuracy",
                "epoch/lr", "epoch/time_s", "epoch"):
        assert store.series(run_id, key).steps.tolist() == [5, 11], key
    assert store.series(run_id, "epoch").values.tolist() == [0.0, 1.0]
    assert store.series(run_id, "epoch/lr").values == pytest.approx([0.05, 0.05])

    info = store.run(run_id)
    keras_cfg = info.config["keras"]
    assert info.config["seed"] == 0  # the user's config is kept
    assert keras_cfg["backend"] == "tensorflow"
    assert keras_cfg["fit"]["epochs"] == 2 and keras_cfg["fit"]["batch_size"] == 8
    assert keras_cfg["fit"]["steps_per_epoch"] == 6
    assert keras_cfg["optimizer"]["class"] == "SGD"
    assert keras_cfg["optimizer"]["learning_rate"] == pytest.approx(0.05)
    assert keras_cfg["optimizer"]["momentum"] == pytest.approx(0.9)
    assert keras_cfg["loss"] == "sparse_categorical_crossentropy"
    assert keras_cfg["model"] == {"name": "res", "class": "Functional", "params": 467}
    assert set(info.summary) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert info.summary["val_loss"] == pytest.approx(store.series(run_id, "epoch/val_loss").values[-1])


def test_second_fit_continues_the_steps(db_path) -> None:
    run = tracker.init("keras-test", db=db_path)
    model, (x, y) = _residual_model(), _data()
    callback = TrackerCallback(run, log_every=3)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[callback])
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[callback])
    run.finish()
    store = tracker.open_store(db_path)
    assert store.series(run.id, "train/loss").steps.tolist() == [0, 3, 6, 9]
    assert store.series(run.id, "epoch/loss").steps.tolist() == [5, 11]


def test_layer_graph_and_op_graph(db_path) -> None:
    store, run_id = _fit(db_path, {"op_graph": True}, epochs=1)

    infos = store.graphs(run_id)
    assert [(g.framework, g.source) for g in infos] == [
        ("keras", "keras_config"), ("tensorflow", "tf_function")]
    layers = store.graph(infos[0].id)
    names = [n.name for n in layers.nodes]
    assert names == ["x", "d1", "d2", "add", "out"]
    by_name = {n.name: n for n in layers.nodes}
    assert by_name["x"].kind == "input" and by_name["d1"].kind == "module"
    assert by_name["d1"].op == "Dense" and by_name["add"].op == "Add"
    assert by_name["d1"].shape == "[None, 16]" and by_name["out"].shape == "[None, 3]"
    assert by_name["d1"].params == 8 * 16 + 16 and by_name["out"].params == 16 * 3 + 3
    assert by_name["d1"].attrs["units"] == 16 and by_name["d1"].attrs["activation"] == "relu"
    edges = {(names[s], names[d]) for s, d in layers.edges}
    assert edges == {("x", "d1"), ("d1", "d2"), ("d1", "add"), ("d2", "add"), ("add", "out")}
    assert infos[0].total_params == 467
    assert layers.raw_format == "keras_json" and json.loads(layers.raw)["config"]["name"] == "res"

    ops = store.graph(infos[1].id)
    assert ops.raw_format == "graphdef" and ops.raw
    op_types = {n.op for n in ops.nodes}
    assert {"Placeholder", "MatMul", "BiasAdd", "Relu", "AddV2"} <= op_types
    matmul = next(n for n in ops.nodes if n.op == "MatMul" and "d1" in n.scope)
    inputs = {ops.nodes[s].name for s, d in ops.edges if ops.nodes[d] is matmul}
    assert "x" in inputs


def test_edges_from_config_accepts_tuples_lists_and_keras2() -> None:
    model = _residual_model()
    live = model.get_config()
    as_json = json.loads(model.to_json())["config"]  # tuples became lists
    expected = {("x", "d1"), ("d1", "d2"), ("d1", "add"), ("d2", "add"), ("add", "out")}
    assert set(edges_from_config(live)) == expected
    assert set(edges_from_config(as_json)) == expected
    keras2 = {"layers": [
        {"name": "x", "inbound_nodes": []},
        {"name": "d1", "inbound_nodes": [[["x", 0, 0, {}]]]},
        {"name": "cat", "inbound_nodes": [[["x", 0, 0, {}], ["d1", 0, 0, {}]]]},
    ]}
    assert edges_from_config(keras2) == [("x", "d1"), ("x", "cat"), ("d1", "cat")]


def test_live_nodes_give_the_same_graph_without_config() -> None:
    model = _residual_model()
    from_config = layer_graph(model, use_config=True)
    live = layer_graph(model, use_config=False)
    assert live.source == "keras_layers" and live.raw is None
    assert [n.name for n in live.nodes] == [n.name for n in from_config.nodes]
    assert sorted(live.edges) == sorted(from_config.edges)
    assert [n.params for n in live.nodes] == [n.params for n in from_config.nodes]
    assert live.nodes[1].attrs["units"] == 16


def test_sequential_graph_has_its_input_and_a_chain() -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"),
                              keras.layers.Dense(2, name="b")], name="seq")
    for use_config in (True, False):
        graph = layer_graph(model, use_config=use_config)
        names = [n.name for n in graph.nodes]
        assert names[-2:] == ["a", "b"] and graph.nodes[0].kind == "input"
        assert {(names[s], names[d]) for s, d in graph.edges} == {(names[0], "a"), ("a", "b")}


class _Subclassed(keras.Model):
    def __init__(self) -> None:
        super().__init__(name="sub")
        self.hidden = keras.layers.Dense(8, name="hidden")
        self.head = keras.layers.Dense(3, name="head")

    def call(self, x):
        return self.head(self.hidden(x))


def test_subclassed_model_gets_a_layer_list_and_op_graph_failure_does_not_stop_fit(
    db_path, caplog
) -> None:
    model = _Subclassed()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    store, run_id = _fit(db_path, {"op_graph": True}, model=model, epochs=1)
    assert any("op graph" in r.getMessage() for r in caplog.records)  # one line saying what to do
    (info,) = store.graphs(run_id)
    graph = store.graph(info.id)
    assert [(n.name, n.op, n.params) for n in graph.nodes] == [
        ("hidden", "Dense", 8 * 8 + 8), ("head", "Dense", 8 * 3 + 3)]
    assert graph.edges == [] and info.source == "keras_layer_list"
    assert len(store.series(run_id, "train/loss")) == 6  # training and logging went on


def test_weight_histograms_every_n_epochs(db_path) -> None:
    store, run_id = _fit(db_path, {"log_every": 0, "histograms": 2}, epochs=4)
    keys = {k.key for k in store.keys(run_id, kind="histogram")}
    assert keys == {f"weights/{layer}/{w}" for layer in ("d1", "d2", "out")
                    for w in ("kernel", "bias")}
    points = store.histograms(run_id, "weights/d1/kernel")
    assert [p.step for p in points] == [11, 23]  # after epochs 2 and 4
    assert points[-1].histogram.count == 8 * 16
    assert store.keys(run_id, kind="scalar") and not len(store.series(run_id, "train/loss"))


def test_no_histograms_by_default(db_path) -> None:
    store, run_id = _fit(db_path, {}, epochs=1)
    assert store.keys(run_id, kind="histogram") == []


def test_tensorflow_profile_window_stores_op_rows_and_the_xplane(db_path) -> None:
    store, run_id = _fit(db_path, {"profile_batches": (2, 4)}, epochs=1)
    (info,) = store.profiles(run_id)
    assert (info.framework, info.step_from, info.step_to) == ("tensorflow", 2, 4)
    assert info.trace_format == "xplane" and info.op_count > 0
    profile = store.profile(info.id)
    assert {op.category for op in profile.ops} == {"tf_op"}
    assert "MatMul" in {op.name for op in profile.ops} or "_FusedMatMul" in {
        op.name for op in profile.ops}
    assert all(op.calls > 0 and op.self_ns > 0 for op in profile.ops)
    assert [s for s, _ in profile.step_times_ns] == [2, 3, 4]
    assert profile.trace and profile.trace_name  # raw xplane bytes and host name for export


def test_profile_window_past_the_end_is_closed_at_train_end(db_path) -> None:
    store, run_id = _fit(db_path, {"profile_batches": (4, 100)}, epochs=1)
    (info,) = store.profiles(run_id)
    assert (info.step_from, info.step_to) == (4, 5)


def test_bad_arguments_say_what_to_do(db_path) -> None:
    with pytest.raises(NoActiveRunError, match="tracker.init"):
        TrackerCallback()
    run = tracker.init("keras-test", db=db_path)
    with pytest.raises(ValueError, match="log_every"):
        TrackerCallback(run, log_every=-1)
    with pytest.raises(ValueError, match="profile steps"):
        TrackerCallback(run, profile_batches=(5, 2))
    assert TrackerCallback().run is run  # the current run by default
    run.finish()


def test_a_disabled_run_takes_the_callback_and_stores_nothing(tmp_path) -> None:
    run = tracker.DisabledRun("keras-test")
    model, (x, y) = _residual_model(), _data()
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[
        TrackerCallback(run, histograms=True, profile_batches=(1, 2), op_graph=True)])
    assert len(history.history["loss"]) == 1
    assert not list(tmp_path.iterdir())


def test_a_nested_model_is_one_node_that_owns_its_parameters() -> None:
    block = keras.Sequential([keras.layers.Dense(6, name="inner1"),
                              keras.layers.Dense(5, name="inner2")], name="block")
    inp = keras.Input((4,), name="x")
    model = keras.Model(inp, keras.layers.Dense(2, name="head")(block(inp)), name="outer")
    for use_config in (True, False):
        graph = layer_graph(model, use_config=use_config)
        names = [n.name for n in graph.nodes]
        assert names == ["x", "block", "head"]
        assert {(names[s], names[d]) for s, d in graph.edges} == {("x", "block"), ("block", "head")}
        assert graph.nodes[1].attrs["layers"] == ["inner1", "inner2"]
        assert graph.total_params == model.count_params() == (4 * 6 + 6) + (6 * 5 + 5) + 12


@pytest.mark.filterwarnings("ignore:Your input ran out of data")  # Keras's, and expected here
def test_a_dataset_of_unknown_length_keeps_steps_contiguous(db_path) -> None:
    import tensorflow as tf

    x, y = _data(40)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: True).batch(8)
    run = tracker.init("keras-test", db=db_path)
    model = _residual_model()
    model.fit(dataset, epochs=2, verbose=0, callbacks=[TrackerCallback(run)])
    run.finish()
    store = tracker.open_store(db_path)
    # Keras begins a sixth batch that runs out of data; it must not leave a gap in the steps.
    assert store.series(run.id, "train/loss").steps.tolist() == list(range(10))
    assert store.series(run.id, "epoch/loss").steps.tolist() == [4, 9]


def test_batch_metrics_reach_the_store_during_an_epoch(db_path) -> None:
    seen: dict[int, int] = {}

    class Reader(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):  # after TrackerCallback's own
            if batch in (70, 150):
                run.flush()
                with tracker.open_store(db_path) as store:
                    seen[batch] = len(store.series(run.id, "train/loss"))

    run = tracker.init("keras-test", db=db_path)
    x, y = _data(8 * 160)
    _residual_model().fit(x, y, batch_size=8, epochs=1, verbose=0,
                          callbacks=[TrackerCallback(run), Reader()])
    run.finish()
    assert 64 <= seen[70] <= 70 and 128 <= seen[150] <= 150  # logged in bulk, not at epoch end
    store = tracker.open_store(db_path)
    assert store.series(run.id, "train/loss").steps.tolist() == list(range(160))


def test_gathered_batches_are_stored_when_fit_dies_mid_epoch(db_path) -> None:
    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):  # after TrackerCallback's own
            if batch == 37:
                raise RuntimeError("simulated crash")

    run = tracker.init("keras-test", db=db_path)
    x, y = _data(8 * 100)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _residual_model().fit(x, y, batch_size=8, epochs=1, verbose=0,
                              callbacks=[TrackerCallback(run), Crash()])
    run.finish("failed")  # what the exit hook does when an exception ends the program
    store = tracker.open_store(db_path)
    assert store.series(run.id, "train/loss").steps.tolist() == list(range(38))


def test_optimizer_settings_read_from_attributes_match_get_config() -> None:
    from tracker.hooks.keras import config as keras_config

    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.9)
    for optimizer in (keras.optimizers.Adam(schedule, beta_1=0.8),
                      keras.optimizers.SGD(schedule, momentum=0.5, nesterov=True)):
        full = keras_config.optimizer_config(optimizer)  # TensorFlow is loaded: get_config()
        assert full["learning_rate"] == {"class": "ExponentialDecay", "initial_learning_rate": 1e-3,
                                         "decay_steps": 10, "decay_rate": 0.9, "staircase": False,
                                         "name": "ExponentialDecay"}
        # The TensorFlow-free path (JAX/torch backends) agrees on every setting it reads.
        from_attributes = keras_config._settings_from_attributes(optimizer)
        assert {"name", "ema_momentum"} <= set(from_attributes) and len(from_attributes) >= 5
        for key, value in from_attributes.items():
            assert full[key] == (pytest.approx(value) if isinstance(value, float) else value), key


def test_gradient_histograms_from_a_sample_batch(db_path) -> None:
    import tensorflow as tf

    x, y = _data()
    run = tracker.init("keras-test", db=db_path)
    model = _residual_model()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[
        TrackerCallback(run, log_every=0, histograms=True, gradient_sample=(x[:16], y[:16]))])
    run.finish()
    with tf.GradientTape() as tape:  # the same gradient, by hand, on the final weights
        loss = keras.losses.sparse_categorical_crossentropy(y[:16], model(x[:16]))
        loss = tf.reduce_mean(loss)
    expected = tape.gradient(loss, model.get_layer("d1").kernel.value)
    store = tracker.open_store(db_path)
    keys = {k.key for k in store.keys(run.id, kind="histogram")}
    assert {"grads/d1/kernel", "grads/out/bias"} <= keys
    points = store.histograms(run.id, "grads/d1/kernel")
    assert [p.step for p in points] == [5, 11]
    assert points[-1].histogram.sum == pytest.approx(float(tf.reduce_sum(expected)), rel=1e-4)
    assert points[-1].histogram.sum_squares == pytest.approx(
        float(tf.reduce_sum(expected * expected)), rel=1e-4)
