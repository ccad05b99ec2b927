"""TFLogger in a custom tf.GradientTape loop: tensors logged without a host read on the loop's thread,
histograms of variables and gradients, the op graph of a tf.function, a profile window."""

from __future__ import annotations

import os
import threading
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework import ops as tf_ops  # noqa: E402

import tracker  # noqa: E402
from tracker.run import values as tracker_values  # noqa: E402
from tracker.hooks._shared.native_noise import quiet_native_noise  # noqa: E402
from tracker.hooks.tf import TFLogger  # noqa: E402


class _Loop:
    """A tiny linear-regression loop written with tf.GradientTape."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.x = tf.constant(rng.random((32, 4), dtype=np.float32))
        self.y = tf.constant(self.x.numpy() @ np.arange(1, 5, dtype=np.float32)[:, None])
        self.w = tf.Variable(tf.zeros((4, 1)), name="w")
        self.b = tf.Variable(tf.zeros((1,)), name="b")
        self.opt = tf.keras.optimizers.SGD(0.1)

    @tf.function
    def step(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((x @ self.w + self.b - y) ** 2)
        grads = tape.gradient(loss, [self.w, self.b])
        self.opt.apply_gradients(zip(grads, [self.w, self.b]))
        return loss, grads


def test_tensors_are_logged_without_a_read_on_the_loop_thread(db_path, monkeypatch) -> None:
    host_reads: list[str] = []  # threads that turned an eager tensor into numpy
    deferred: list[tuple[str, str, int]] = []  # (thread, kind, count) the run resolved later
    original_numpy = tf_ops._EagerTensorBase.numpy
    original_resolve = tracker_values._resolve_batch

    def spy_numpy(self: Any) -> Any:
        host_reads.append(threading.current_thread().name)
        return original_numpy(self)

    def spy_resolve(kind: str, handles: list[Any]) -> list[float]:
        deferred.append((threading.current_thread().name, kind, len(handles)))
        return original_resolve(kind, handles)

    loop = _Loop()
    run = tracker.init("tf-loop", db=db_path)
    logger = TFLogger(run, log_every=5)
    losses = []
    monkeypatch.setattr(tf_ops._EagerTensorBase, "numpy", spy_numpy)
    monkeypatch.setattr(tracker_values, "_resolve_batch", spy_resolve)
    for step in range(30):
        loss, _ = loop.step(loop.x, loop.y)
        losses.append(loss)
        # A tf.Tensor, a slice of a tf.Variable, and a Keras 3 variable (the learning rate).
        logger.log({"loss": loss, "w0": loop.w[0, 0], "lr": loop.opt.learning_rate}, step)
    assert host_reads == []  # nothing was read on the loop's thread while it ran
    assert run.flush()
    monkeypatch.undo()
    run.finish()

    assert sum(n for _, kind, n in deferred if kind == "tf") == 3 * 6  # all 18 went deferred
    store = tracker.open_store(db_path)
    series = store.series(run.id, "loss")
    assert series.steps.tolist() == [0, 5, 10, 15, 20, 25]
    assert series.values == pytest.approx([float(losses[i]) for i in range(0, 30, 5)])
    assert series.values[-1] < series.values[0]  # it trained
    assert store.series(run.id, "lr").values == pytest.approx([0.1] * 6)
    assert len(store.series(run.id, "w0")) == 6


def test_variables_and_gradients_as_histograms(db_path) -> None:
    loop = _Loop()
    with tracker.init("tf-loop", db=db_path) as run:
        logger = TFLogger(run)
        _, grads = loop.step(loop.x, loop.y)
        logger.log_histograms([loop.w, loop.b], step=0)
        logger.log_histograms(grads, step=0, prefix="grads/")
        logger.log_histograms([None], step=0, prefix="grads/")  # unconnected: skipped
    store = tracker.open_store(db_path)
    keys = {k.key for k in store.keys(run.id, kind="histogram")}
    assert {"weights/w", "weights/b"} <= keys and len(keys) == 4
    (w,) = store.histograms(run.id, "weights/w")
    assert w.histogram.count == 4 and w.histogram.sum == pytest.approx(float(tf.reduce_sum(loop.w)))


def test_op_graph_of_a_tf_function(db_path) -> None:
    loop = _Loop()
    with tracker.init("tf-loop", db=db_path) as run:
        TFLogger(run).log_graph(loop.step, tf.TensorSpec([None, 4]), tf.TensorSpec([None, 1]))
    store = tracker.open_store(db_path)
    (info,) = store.graphs(run.id)
    assert (info.framework, info.source, info.raw_format) == ("tensorflow", "tf_function", "graphdef")
    graph = store.graph(info.id)
    ops = {n.op for n in graph.nodes}
    assert {"Placeholder", "MatMul", "Mean"} <= ops
    assert graph.edges and all(0 <= s < len(graph.nodes) for s, _ in graph.edges)
    from tensorboard.compat.proto.graph_pb2 import GraphDef

    assert len(GraphDef.FromString(graph.raw).node) == len(graph.nodes)


def test_profile_window_over_a_custom_loop(db_path) -> None:
    loop = _Loop()
    loop.step(loop.x, loop.y)  # trace outside the window
    with tracker.init("tf-loop", db=db_path) as run, TFLogger(run, profile_steps=(2, 4)) as logger:
        for step in range(8):
            logger.begin_step(step)
            loss, _ = loop.step(loop.x, loop.y)
            logger.log({"loss": loss}, step)
    store = tracker.open_store(db_path)
    (info,) = store.profiles(run.id)
    assert (info.step_from, info.step_to, info.framework) == (2, 4, "tensorflow")
    profile = store.profile(info.id)
    assert "MatMul" in {op.name for op in profile.ops}
    assert [s for s, _ in profile.step_times_ns] == [2, 3, 4]


def test_the_noise_filter_drops_only_tensorflow_info_lines(capfd) -> None:
    with quiet_native_noise():
        os.write(2, b"I0000 00:00:1795676214.214639   17074 profiler_session.cc:117] "
                    b"Profiler session initializing.\n")
        os.write(2, b"W0000 00:00:1795676214.2 17074 x.cc:1] a real warning\n")
        os.write(2, b"user output\n")
    err = capfd.readouterr().err
    assert "Profiler session initializing" not in err
    assert "a real warning" in err and "user output" in err


def test_bad_arguments(db_path) -> None:
    with pytest.raises(tracker.NoActiveRunError, match="tracker.init"):
        TFLogger()
    with tracker.init("tf-loop", db=db_path) as run:
        with pytest.raises(ValueError, match="log_every"):
            TFLogger(run, log_every=0)
        with pytest.raises(ValueError, match="profile steps"):
            TFLogger(run, profile_steps=(3, 1))
        with pytest.raises(ValueError, match=r"such as \(20, 25\)"):
            TFLogger(run, profile_steps=5)  # type: ignore[arg-type]
