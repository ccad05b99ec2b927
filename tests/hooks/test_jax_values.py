"""tracker.hooks.jax.log: nested metrics of JAX arrays, stored without waiting for the device."""

from __future__ import annotations

import io
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import tracker
from tracker.hooks import jax as tj


@jax.jit
def _slow_metrics(x: jax.Array) -> dict:
    # ~2000 small matmuls (~0.2 s on an idle machine): the result cannot be ready when log()
    # returns, even if this thread is descheduled for a while (300 left only ~30 ms of margin).
    y = jax.lax.fori_loop(0, 2000, lambda i, a: jnp.tanh(a @ a), x)
    mean = y.mean()
    return {"loss": mean, "acc": {"top1": mean + 1.0, "top5": mean + 2.0}, "lr": 0.5}


def _values(db: Path, run_id: str) -> dict[str, list[float]]:
    with tracker.open_store(db) as store:
        return {k.key: store.series(run_id, k.key).values.tolist() for k in store.keys(run_id)}


def test_nested_metrics_flatten_to_slash_keys_and_do_not_wait(db_path: Path) -> None:
    x = jnp.full((256, 256), 0.01, jnp.float32)
    _slow_metrics(x)["loss"].block_until_ready()  # compile first
    run = tracker.init("jax", db=db_path)

    out = _slow_metrics(x)
    tj.log(run, out, step=3)
    still_running = not out["loss"].is_ready()  # log() handed the arrays on without reading them
    run.finish()

    assert still_running
    expected = float(out["loss"])
    values = _values(db_path, run.id)
    assert set(values) == {"loss", "acc/top1", "acc/top5", "lr"}
    assert values["loss"] == pytest.approx([expected])
    assert values["acc/top5"] == pytest.approx([expected + 2.0])
    with tracker.open_store(db_path) as store:
        assert store.series(run.id, "acc/top1").steps.tolist() == [3]


class _Stats(NamedTuple):
    loss: jax.Array
    parts: tuple


def test_lists_namedtuples_and_prefix(db_path: Path) -> None:
    run = tracker.init("jax", db=db_path)
    tj.log(run, {"layers": [jnp.float32(1.0), np.float64(2.0)]}, step=0)
    tj.log(run, _Stats(jnp.float32(3.0), (jnp.int32(4),)), step=0, prefix="eval")
    tj.log(run, {"flat": jnp.float32(5.0)}, step=1)
    run.finish()

    assert _values(db_path, run.id) == {
        "layers/0": [1.0], "layers/1": [2.0], "eval/loss": [3.0], "eval/parts/0": [4.0],
        "flat": [5.0],
    }


def test_flatten_keeps_leaves_as_they_are() -> None:
    leaf = jnp.ones(())
    flat = tj.flatten_metrics({"a": {"b": leaf, "c": [leaf]}})
    assert list(flat) == ["a/b", "a/c/0"] and flat["a/b"] is leaf


def test_bad_leaves_raise_naming_the_key(db_path: Path) -> None:
    run = tracker.init("jax", db=db_path)
    with pytest.raises(ValueError, match="'train/w'"):
        tj.log(run, {"train": {"w": jnp.ones(3)}})
    with pytest.raises(TypeError, match="'meta/name'"):
        tj.log(run, {"meta": {"name": "adam"}})
    with pytest.raises(TypeError, match="dict or pytree"):
        tj.log(run, jnp.ones(()))
    run.finish()
    assert _values(db_path, run.id) == {}


def test_on_cpu_a_later_log_reads_computed_values_and_lets_the_arrays_go(db_path: Path) -> None:
    import weakref

    x = jnp.full((256, 256), 0.01, jnp.float32)
    _slow_metrics(x)["loss"].block_until_ready()  # compile first
    run = tracker.init("jax", db=db_path)
    out = _slow_metrics(x)
    tj.log(run, out, step=0)
    tj.log(run, {"quick": jnp.float32(1.0) + 1}, step=1)
    assert not out["loss"].is_ready()  # the second log() did not wait for the first's values

    jax.block_until_ready(out)  # all computed (each output is marked ready on its own)
    expected = float(out["loss"])
    gone = weakref.ref(out["loss"])
    del out
    tj.log(run, {"quick": jnp.float32(2.0) + 1}, step=2)
    assert gone() is None  # read by that log() call: the tracker no longer holds the array
    run.finish()

    values = _values(db_path, run.id)
    assert values["loss"] == pytest.approx([expected])
    assert values["acc/top5"] == pytest.approx([expected + 2.0])
    assert values["quick"] == [2.0, 3.0]


def test_packed_metrics_from_a_jitted_step_store_one_point_per_key(db_path: Path) -> None:
    @jax.jit
    def step(x: jax.Array) -> tuple[jax.Array, tj.PackedMetrics]:
        metrics = {"train": {"loss": x, "rmse": jnp.sqrt(x)}, "count": jnp.int32(7), "lr": 0.5}
        return x + 1.0, tj.pack(metrics)

    run = tracker.init("jax", db=db_path)
    x = jnp.float32(4.0)
    for i in range(4):
        x, packed = step(x)
        tj.log(run, packed, step=i)
    run.log(packed, step=10)  # the core takes it too
    tj.log(run, packed, step=11, prefix="eval")
    run.finish()

    assert packed.keys == ("train/loss", "train/rmse", "count", "lr")
    assert packed.values.dtype == jnp.float32 and packed.values.shape == (4,)
    values = _values(db_path, run.id)
    assert values["train/loss"] == [4.0, 5.0, 6.0, 7.0, 7.0]
    assert values["train/rmse"] == pytest.approx([2.0, 5**0.5, 6**0.5, 7**0.5, 7**0.5])
    assert values["count"] == [7.0] * 5 and values["lr"] == [0.5] * 5
    assert values["eval/train/loss"] == [7.0]
    with tracker.open_store(db_path) as store:
        assert store.series(run.id, "lr").steps.tolist() == [0, 1, 2, 3, 10]


def test_packed_metrics_are_not_waited_for(db_path: Path) -> None:
    x = jnp.full((256, 256), 0.01, jnp.float32)
    slow = jax.jit(lambda a: tj.pack(_slow_metrics(a)))
    slow(x).values.block_until_ready()  # compile first
    run = tracker.init("jax", db=db_path)
    packed = slow(x)
    run.log(packed, step=0)
    run.log({"quick": 1.0}, step=1)
    assert not packed.values.is_ready()  # neither log() call waited for it
    expected = float(packed.unpack()["loss"])
    run.finish()
    assert _values(db_path, run.id)["loss"] == pytest.approx([expected])


def test_bad_packed_metrics_raise_naming_the_problem(db_path: Path) -> None:
    with pytest.raises(ValueError, match="'w'"):
        tj.pack({"w": jnp.ones(3)})
    with pytest.raises(ValueError, match="no metrics"):
        tj.pack({})
    run = tracker.init("jax", db=db_path)
    with pytest.raises(ValueError, match="shape"):
        run.log(tj.PackedMetrics(("a", "b"), jnp.ones(3)))
    with pytest.raises(ValueError, match="twice"):
        run.log(tj.PackedMetrics(("a", "a"), jnp.ones(2)))
    with pytest.raises(ValueError, match="empty"):
        run.log(tj.PackedMetrics(("a", " "), jnp.ones(2)))
    run.log(tj.PackedMetrics(("a", "b"), jnp.array([1.0, 2.0])), step=0)  # nothing else logged
    run.finish()
    assert _values(db_path, run.id) == {"a": [1.0], "b": [2.0]}


def test_threads_logging_jax_arrays_to_one_run_lose_and_mix_up_nothing(db_path: Path) -> None:
    import threading

    add = jax.jit(lambda a, b: a + b)
    packed = jax.jit(lambda a: tj.pack({"x": a, "y": a * 2}))
    from tracker.run import Run

    run = Run(project="jax", db=db_path, flush_interval=0.01)  # the writer reads and writes too
    steps = 300

    def worker(t: int) -> None:
        for i in range(steps):
            value = add(jnp.float32(i), jnp.float32(t * 1000))
            if t % 2:
                run.log({f"w{t}": value, f"w{t}/float": float(i)}, step=i)
            else:
                run.log(packed(value).with_prefix(f"w{t}"), step=i)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.finish()

    values = _values(db_path, run.id)
    ramp = np.arange(steps, dtype=np.float64)
    for t in range(4):
        if t % 2:
            assert values[f"w{t}"] == (ramp + t * 1000).tolist()
            assert values[f"w{t}/float"] == ramp.tolist()
        else:
            assert values[f"w{t}/x"] == (ramp + t * 1000).tolist()
            assert values[f"w{t}/y"] == ((ramp + t * 1000) * 2).tolist()


def test_log_image_takes_arrays_of_a_jitted_step_and_reads_them_on_the_writer(
    db_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tracker import images

    readers: list[str] = []
    real = images._host_values

    def host_values(key: str, kind: str, value: object) -> object:
        readers.append(key)
        return real(key, kind, value)

    monkeypatch.setattr(images, "_host_values", host_values)

    @jax.jit
    def step(x: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        return x * 0.5, {"real": x, "fake": 1.0 - x}

    x = jnp.linspace(0.0, 1.0, 48).reshape(4, 4, 3)
    with tracker.init("jax-images", db=db_path) as run:
        half, pair = step(x)
        tj.log_image(run, "half", half, step=1, caption="half")
        tj.log_image(run, "pair", pair, step=1)
        assert readers == []  # nothing read by log_image: the writer reads them (here at finish)
    assert len(readers) == 3
    expected = (np.clip(np.asarray(x), 0, 1) * 255 + 0.5).astype(np.uint8)
    with tracker.open_store(db_path) as store:
        assert store.image_keys(run.id) == ["half", "pair/fake", "pair/real"]
        assert store.image(run.id, "half", 1).caption == "half"
        real_image = store.image(run.id, "pair/real", 1)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(real_image.data))), expected)


def test_an_image_still_being_computed_waits_for_a_later_flush() -> None:
    """The flusher's interval flush (wait=False) leaves a JAX image that is not ready queued,
    with the images after it of the same key; flush()/finish() (wait=True) encode it."""
    from tracker.images import PendingImage
    from tracker.run.image_writes import ImagePending, encode_taken
    from tracker.store.backend import ImageItem, TextItem

    class Computing:  # stands in for a jax.Array whose computation has not finished
        ready = False
        dtype = np.dtype("uint8")

        def is_ready(self) -> bool:
            return self.ready

        def __array__(self, *args: object, **kwargs: object) -> np.ndarray:
            assert self.ready, "read before it was computed"
            return np.zeros((2, 2), np.uint8)

    value = Computing()
    slow = ImagePending("gen", 1, 0.0, PendingImage("gen", "jax", value, "HW", None))
    after = ImagePending("gen", 2, 0.0, PendingImage("gen", "array", np.ones((2, 2), np.uint8),
                                                     "HW", None))
    other = ImagePending("other", 1, 0.0, PendingImage("other", "array",
                                                       np.ones((2, 2), np.uint8), "HW", None))
    text = TextItem("t", 1, 0.0, "x")
    ready, later = encode_taken([slow, after, other, text], "run", wait=False)
    assert later == [slow, after]  # in order: an image never overtakes an earlier one
    assert [(type(r).__name__, r.key) for r in ready] == [("ImageItem", "other"),
                                                         ("TextItem", "t")]
    value.ready = True
    ready, later = encode_taken(later, "run", wait=False)
    assert later == [] and [r.step for r in ready] == [1, 2]
    assert isinstance(ready[0], ImageItem) and ready[0].image.width == 2
