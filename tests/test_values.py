"""Bad input is refused with a message naming the key; framework values are read without syncs."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tracker

BAD_VALUES = [
    ("a string", "loss", "string"),
    ({"nested": "x"}, "loss/nested", "string"),
    ([1.0, 2.0], "loss", "list"),
    (None, "loss", "None"),
    (np.array([1.0, 2.0]), "loss", "shape"),
    (np.array(["x"]), "loss", "numeric"),
    (object(), "loss", "object"),
    (10**400, "loss", "too large"),
]


@pytest.mark.parametrize(("value", "key", "words"), BAD_VALUES)
def test_bad_values_name_the_key_and_log_nothing(db_path, value, key, words):
    with tracker.init("p", db=db_path) as run:
        run.log({"ok": 1.0}, step=0)
        with pytest.raises((TypeError, ValueError), match=key) as info:
            run.log({"ok": 2.0, key: value}, step=1)
        assert words.lower() in str(info.value).lower()
        run.log({"ok": 3.0}, step=2)
    with tracker.open_store(db_path) as store:
        s = store.series(run.id, "ok")
    assert s.values.tolist() == [1.0, 3.0]  # earlier points kept; the bad call stored nothing


@pytest.mark.parametrize(
    ("key", "error"),
    [("", ValueError), ("   ", ValueError), ("x" * 300, ValueError), ("a\x1bb", ValueError),
     (3, TypeError), (None, TypeError)],
)
def test_bad_keys(db_path, key, error):
    with tracker.init("p", db=db_path) as run:
        with pytest.raises(error, match="key"):
            run.log({key: 1.0})
        with pytest.raises(error, match="key"):
            run.log_text(key, "x")


@pytest.mark.parametrize("step", [1.5, "3", True, 2**64, None.__class__])
def test_bad_steps(db_path, step):
    with tracker.init("p", db=db_path) as run:
        with pytest.raises((TypeError, ValueError), match="step"):
            run.log({"a": 1.0}, step=step)


def test_numpy_integer_steps_are_fine(db_path):
    with tracker.init("p", db=db_path) as run:
        run.log({"a": 1.0}, step=np.int32(4))
    assert run.step == 4


def test_not_a_mapping(db_path):
    with tracker.init("p", db=db_path) as run:
        with pytest.raises(TypeError, match="dict"):
            run.log([("a", 1.0)])


def test_torch_tensors(db_path):
    import torch

    torch.set_num_threads(1)
    w = torch.ones(3, requires_grad=True)
    loss = (w * 2).sum()
    with tracker.init("p", db=db_path) as run:
        run.log({"loss": loss, "one": torch.tensor([0.25]), "int": torch.tensor(3)})
        with pytest.raises(ValueError, match="vec"):
            run.log({"vec": torch.ones(2)})
    with tracker.open_store(db_path) as store:
        assert store.runs()[0].last == {"loss": 6.0, "one": 0.25, "int": 3.0}


def test_cpu_tensors_under_known_keys_take_the_fast_path_with_the_same_checks(db_path):
    import torch

    w = torch.ones(3, requires_grad=True)
    with tracker.init("p", db=db_path) as run:
        for step in range(3):  # the keys are known from the second call on
            run.log({"loss": (w * step).sum(), "ok": torch.tensor(True), "lr": 0.1}, step=step)
        with pytest.raises(ValueError, match="'loss'.*shape"):
            run.log({"loss": torch.ones(2), "lr": 0.1}, step=3)
        with pytest.raises(TypeError, match="'loss'"):
            run.log({"loss": torch.tensor(1 + 2j), "lr": 0.1}, step=3)
        with pytest.raises(ValueError, match="'loss'"):
            run.log({"loss": torch.empty(0), "lr": 0.1}, step=3)
    with tracker.open_store(db_path) as store:
        loss = store.series(run.id, "loss")
        assert store.series(run.id, "ok").values.tolist() == [1.0, 1.0, 1.0]
    assert loss.steps.tolist() == [0, 1, 2]  # the failed calls stored nothing
    assert loss.values.tolist() == [0.0, 3.0, 6.0]


def test_jax_arrays_are_deferred_and_read_by_the_writer(db_path):
    import jax.numpy as jnp

    from tracker.run.values import Deferred, to_scalar

    x = jnp.float32(1.5) * 2
    assert isinstance(to_scalar("k", x), Deferred)  # never read on the caller's thread
    with tracker.init("p", db=db_path) as run:
        for i in range(10):
            run.log({"loss": jnp.asarray(i, dtype=jnp.float32) / 2, "py": float(i)})
        with pytest.raises(ValueError, match="m"):
            run.log({"m": jnp.ones((2, 2))})
    with tracker.open_store(db_path) as store:
        s = store.series(run.id, "loss")
    assert s.values.tolist() == [i / 2 for i in range(10)]


def test_a_donated_jax_array_is_stored_as_nan_and_said_once(db_path, capfd, monkeypatch):
    import jax.numpy as jnp

    from tracker.run import values

    monkeypatch.setattr(values, "_unreadable_said", False)
    with tracker.init("p", db=db_path) as run:
        kept = jnp.float32(2.0) * 2
        for step in range(3):
            gone = jnp.float32(step) + 1
            gone.delete()  # what donating it to a jitted call does, here before anyone read it
            run.log({"kept": kept, "gone": gone}, step=step)
    with tracker.open_store(db_path) as store:
        assert store.series(run.id, "kept").values.tolist() == [4.0, 4.0, 4.0]
        assert np.isnan(store.series(run.id, "gone").values).all()
    err = capfd.readouterr().err
    assert err.count("could not be read") == 1 and "donate" in err


def test_a_jax_array_donated_after_log_is_its_value_or_nan_never_a_crash(db_path):
    import jax
    import jax.numpy as jnp

    donate = jax.jit(lambda a: a * 2, donate_argnums=0)
    with tracker.init("p", db=db_path) as run:
        for step in range(20):
            value = jnp.float32(step) + 1
            run.log({"v": value}, step=step)
            donate(value)  # deletes it (is_ready() of a deleted array crashed jaxlib)
            assert value.is_deleted()
    with tracker.open_store(db_path) as store:
        got = store.series(run.id, "v").values
    want = np.arange(1, 21, dtype=np.float64)
    assert len(got) == 20 and ((got == want) | np.isnan(got)).all()


def test_nested_dicts_become_slash_keys(db_path):
    import jax.numpy as jnp

    with tracker.init("p", db=db_path) as run:
        for i in range(3):  # the first call meets new keys, the later ones take the fast path
            run.log({"train": {"loss": jnp.float32(i), "acc": 0.5}, "lr": 0.1, "empty": {}}, step=i)
        with pytest.raises(ValueError, match="given twice"):
            run.log({"a/b": 1.0, "a": {"b": 2.0}})
    with tracker.open_store(db_path) as store:
        assert sorted(k.key for k in store.keys(run.id)) == ["lr", "train/acc", "train/loss"]
        assert store.series(run.id, "train/loss").values.tolist() == [0.0, 1.0, 2.0]


def test_mixed_jax_and_bad_values_store_nothing(db_path):
    import jax.numpy as jnp

    with tracker.init("p", db=db_path) as run:
        run.log({"loss": jnp.float32(1), "ok": 1.0}, step=0)
        with pytest.raises(TypeError, match="'ok'"):  # keys seen before: the fast path checks all
            run.log({"loss": jnp.float32(2), "ok": "x"}, step=1)
        with pytest.raises(ValueError, match="'loss'"):
            run.log({"loss": jnp.ones(3), "ok": 3.0}, step=2)
        run.log({"loss": jnp.float32(4), "ok": 4.0}, step=3)
    with tracker.open_store(db_path) as store:
        assert store.series(run.id, "loss").steps.tolist() == [0, 3]
        assert store.series(run.id, "ok").values.tolist() == [1.0, 4.0]


def test_logged_jax_arrays_are_released_long_before_the_next_flush(db_path):
    """JAX dispatch slows down as live arrays pile up: the writer reads them in small batches."""
    import threading
    import weakref

    import jax.numpy as jnp

    from tracker.run import Run

    run = Run(project="p", db=db_path, flush_interval=3600)  # no timed flush during the test
    first_released = threading.Event()
    refs = []
    for i in range(400):
        value = jnp.float32(i) + 1
        if i == 0:
            weakref.finalize(value, first_released.set)
        refs.append(weakref.ref(value))
        run.log({"loss": value}, step=i)
        del value
    assert first_released.wait(20)  # read and dropped by the writer thread, with no flush
    assert sum(r() is not None for r in refs) < 400
    run.finish()
    with tracker.open_store(db_path) as store:
        assert store.series(run.id, "loss").values.tolist() == [i + 1.0 for i in range(400)]


def test_tensorflow_tensors_and_variables(db_path):
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    v = tf.Variable(1.0)
    with tracker.init("p", db=db_path) as run:
        run.log({"t": tf.constant(2.5), "v": v})
        v.assign(5.0)  # the logged value is the one at log() time
        run.log({"t": tf.reduce_sum(tf.ones([2]))})
    with tracker.open_store(db_path) as store:
        assert store.series(run.id, "t").values.tolist() == [2.5, 2.0]
        assert store.series(run.id, "v").values.tolist() == [1.0]


def test_histograms_of_framework_arrays(db_path):
    import jax.numpy as jnp
    import torch

    with tracker.init("p", db=db_path) as run:
        run.log_histogram("torch", torch.arange(10.0, requires_grad=True), step=0)
        run.log_histogram("jax", jnp.arange(10.0), step=0)
        run.log_histogram("list", [[1, 2], [3, 4]], step=0)
        with pytest.raises(TypeError, match="histogram"):
            run.log_histogram("bad", ["a", "b"], step=0)
    with tracker.open_store(db_path) as store:
        counts = {k: store.histograms(run.id, k)[0].histogram.count for k in ("torch", "jax", "list")}
    assert counts == {"torch": 10.0, "jax": 10.0, "list": 4.0}


def test_keras_variables_are_not_read_on_the_callers_thread(db_path):
    import keras

    from tracker.run.values import Deferred, to_scalar

    lr = keras.Variable(0.5)
    assert isinstance(to_scalar("lr", lr), Deferred)  # TensorFlow backend in this process
    with tracker.init("p", db=db_path) as run:
        run.log({"lr": lr})
        lr.assign(0.25)
        run.log({"lr": lr})
    with tracker.open_store(db_path) as store:
        assert store.series(run.id, "lr").values.tolist() == [0.5, 0.25]


def test_a_lone_surrogate_is_refused_naming_the_key_and_costs_no_other_key(db_path):
    bad = "file/" + os.fsdecode(b"\xff")  # a non-UTF-8 file name, as os.listdir() gives it
    with tracker.init("p", db=db_path) as run:
        for i in range(3000):
            run.log({"other": float(i)}, step=i)
        with pytest.raises(ValueError, match="file/") as info:
            run.log({"other": 1.0, bad: 1.0})
        assert "UTF-8" in str(info.value)
        with pytest.raises(ValueError, match="UTF-8"):
            run.log_text("text", "caption of " + bad)
        with pytest.raises(ValueError, match="file/"):
            run.log_histogram(bad, [1.0])
        with pytest.raises(ValueError, match="file/"):
            run.log({"nested": {bad: 1.0}})
        with pytest.raises(ValueError, match="UTF-8"):
            run.set_summary(path=bad)
    with tracker.open_store(db_path) as store:
        assert len(store.series(run.id, "other")) == 3000
        assert [k.key for k in store.keys(run.id)] == ["other"]
        assert store.run(run.id).status == "finished"


def _nested(depth: int) -> dict:
    d: dict = {"leaf": 1.0}
    for _ in range(depth):
        d = {"a": d}
    return d


def test_deep_or_recursive_metric_dicts_are_refused_in_one_line(db_path):
    loop: dict = {"x": 1.0}
    loop["self"] = loop
    with tracker.init("p", db=db_path) as run:
        with pytest.raises(ValueError, match="nested"):
            run.log(_nested(3000))
        with pytest.raises(ValueError, match="nested"):
            run.log(loop)
        run.log(_nested(20))  # reasonable nesting is fine
    with tracker.open_store(db_path) as store:
        assert [k.key for k in store.keys(run.id)] == ["a/" * 20 + "leaf"]


def test_deep_or_recursive_configs_are_refused_in_one_line(db_path):
    loop: dict = {"lr": 0.1}
    loop["again"] = loop
    items: list = [1]
    items.append(items)
    for bad in (_nested(500), loop, {"layers": items}):
        with pytest.raises((ValueError, TypeError), match="config"):
            tracker.init("p", config=bad, db=db_path)
    with tracker.init("p", config={"deep": _nested(20)}, db=db_path) as run:
        with pytest.raises((ValueError, TypeError), match="summary"):
            run.set_summary(deep=_nested(500))
        with pytest.raises((ValueError, TypeError), match="config"):
            run.update_config({"again": loop})
    with tracker.open_store(db_path) as store:
        assert store.run(run.id).config == {"deep": _nested(20)}
