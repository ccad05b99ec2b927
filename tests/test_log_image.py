"""run.log_image end to end: every input kind into a real store and back through the read API, the
step rules, errors at the call, bad images found by the writer, and the runs that store nothing."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import tracker
from tracker import images
from tracker.images import ImageError
from tracker.records import EncodedImage

RNG = np.random.default_rng(11)


@pytest.fixture
def db_path(any_store: Path) -> Path:
    """Every test here runs on both backends (SQLite and PostgreSQL)."""
    return any_store


def _rgb(h: int = 6, w: int = 5, c: int = 3) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w, c), dtype=np.uint8)


def _pixels(image: EncodedImage) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(image.data)))


def _unit(array: np.ndarray) -> np.ndarray:
    """What a float image in 0-1 is stored as."""
    return (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)


def _round_trip(db: Path, value: Any, **kw: Any) -> EncodedImage:
    with tracker.init("images", db=db) as run:
        run.log_image("samples", value, step=3, **kw)
    with tracker.open_store(db) as store:
        assert store.image_keys(run.id) == ["samples"]
        assert store.image_steps(run.id, "samples") == [3]
        image = store.image(run.id, "samples", 3)
    assert image is not None
    return image


def _grid(batch_nhwc: np.ndarray) -> np.ndarray:
    """A batch tiled as tracker.images does (ceil(sqrt(N)) columns, GRID_GAP apart)."""
    return images.tile_arrays(list(batch_nhwc))


def _numpy_rgb() -> tuple[Any, np.ndarray]:
    array = _rgb()
    return array, array


def _numpy_float_grey() -> tuple[Any, np.ndarray]:
    array = RNG.random((5, 7)).astype(np.float32) * 1.2 - 0.1  # clipped at both ends
    return array, _unit(array)


def _numpy_rgba() -> tuple[Any, np.ndarray]:
    array = _rgb(4, 4, 4)
    return array, array


def _numpy_nhwc() -> tuple[Any, np.ndarray]:
    batch = RNG.integers(0, 256, (5, 4, 3, 3), dtype=np.uint8)
    return batch, _grid(batch)


def _numpy_nchw_float() -> tuple[Any, np.ndarray]:
    batch = RNG.random((4, 1, 3, 5))
    return batch, _grid(_unit(batch.transpose(0, 2, 3, 1)))[:, :, 0]


def _torch_chw() -> tuple[Any, np.ndarray]:
    import torch

    tensor = torch.rand(3, 4, 6, requires_grad=True)
    return tensor, _unit(tensor.detach().numpy().transpose(1, 2, 0))


def _tensorflow() -> tuple[Any, np.ndarray]:
    import tensorflow as tf

    array = _rgb(3, 8)
    return tf.constant(array), array


def _jax() -> tuple[Any, np.ndarray]:
    import jax.numpy as jnp

    array = RNG.random((6, 6, 3)).astype(np.float32)
    return jnp.asarray(array), _unit(array)


def _pil() -> tuple[Any, np.ndarray]:
    array = _rgb(5, 5)
    return Image.fromarray(array), array


def _figure() -> tuple[Any, np.ndarray]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1, 1), dpi=30)
    figure.add_subplot().imshow(np.eye(3))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return figure, np.asarray(Image.open(buffer))


KINDS = {
    "numpy uint8 rgb": _numpy_rgb, "numpy float grey": _numpy_float_grey,
    "numpy rgba": _numpy_rgba, "numpy batch nhwc": _numpy_nhwc,
    "numpy batch nchw float": _numpy_nchw_float, "torch chw float": _torch_chw,
    "tensorflow": _tensorflow, "jax": _jax, "pil": _pil, "matplotlib figure": _figure,
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_input_kind_reaches_the_store_pixel_exact(db_path: Path, kind: str) -> None:
    value, expected = KINDS[kind]()
    image = _round_trip(db_path, value, caption=f"{kind} [b]")
    assert image.format == "png" and image.caption == f"{kind} [b]"
    assert (image.height, image.width) == expected.shape[:2]
    assert np.array_equal(_pixels(image), expected)


def test_a_file_path_is_stored_byte_for_byte(db_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "cm.jpg"
    Image.fromarray(_rgb(16, 16)).save(path, format="JPEG", quality=80)
    image = _round_trip(db_path, path)
    assert image.format == "jpeg" and image.data == path.read_bytes()
    assert _round_trip(db_path, str(path)).data == path.read_bytes()


def test_the_image_is_the_one_of_the_call_not_of_later_changes(db_path: Path) -> None:
    array = _rgb()
    expected = array.copy()
    with tracker.init("images", db=db_path) as run:
        run.log_image("x", array, step=0)
        array[:] = 0  # the loop reuses its buffer before the writer encodes
    with tracker.open_store(db_path) as store:
        assert np.array_equal(_pixels(store.image(run.id, "x", 0)), expected)


def test_steps_follow_the_rules_of_log_text(db_path: Path) -> None:
    with tracker.init("images", db=db_path) as run:
        run.log_image("a", _rgb())  # before any log(): step 0
        run.log({"loss": 1.0}, step=7)
        run.log_image("a", _rgb())  # the last step logged
        run.log_image("a", _rgb(), step=2)  # an earlier step, given
        first, last = _rgb(), _rgb()
        run.log_image("b", first, step=5)
        run.log_image("b", last, step=5)  # twice at one step: both kept, the later one read
        with pytest.raises(TypeError, match="step"):
            run.log_image("a", _rgb(), step="3")
    with tracker.open_store(db_path) as store:
        assert store.image_steps(run.id, "a") == [0, 2, 7]
        assert np.array_equal(_pixels(store.image(run.id, "b", 5)), last)
        assert store.image(run.id, "b", 6) is None and store.image(run.id, "nope", 5) is None
        assert [p.step for p in store.images_after(run.id, "a", 0)] == [0, 7, 2]  # logged order
        assert [p.step for p in store.images_after(run.id, "a", 1, limit=1)] == [7]
        info = {k.key: k for k in store.keys(run.id, "image")}
        assert (info["a"].count, info["a"].first_step, info["a"].last_step) == (3, 0, 2)


@pytest.mark.parametrize(("value", "message"), [
    (np.zeros((5, 5, 2), np.uint8), r"shape \(5, 5, 2\) has no channel axis of size 1, 3 or 4"),
    (np.zeros(7, np.uint8), r"shape \(7,\) is not an image"),
    (np.zeros((4, 4), np.int64), r"dtype int64 is not an image dtype; give uint8"),
])
def test_a_bad_shape_or_dtype_is_a_one_line_value_error_naming_the_key(
    db_path: Path, value: np.ndarray, message: str,
) -> None:
    with tracker.init("images", db=db_path) as run:
        with pytest.raises(ValueError, match=r"^image 'samples': " + message) as info:
            run.log_image("samples", value)
        assert "\n" not in str(info.value)
        run.log({"loss": 1.0})  # the run goes on
    with tracker.open_store(db_path) as store:
        assert store.image_keys(run.id) == []


def test_the_size_limit_is_a_clear_error_at_the_call(db_path: Path, tmp_path: Path) -> None:
    big = np.zeros((5000, 5000), np.uint8)
    with tracker.init("images", db=db_path) as run:
        with pytest.raises(ImageError, match=r"^image 'big': 5000x5000 pixels; at most "
                                             r"16,777,216 pixels and 16,384 a side: log a smaller"):
            run.log_image("big", big)
        batch = np.zeros((300, 3, 256, 256), np.uint8)  # 300 images: a grid of 18x17 is too large
        with pytest.raises(ImageError, match=r"^image 'batch': 4642x4384 pixels"):
            run.log_image("batch", batch)
        huge = tmp_path / "huge.png"
        huge.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(images.MAX_BYTES + 1))
        with pytest.raises(ValueError, match=r"^image 'file': .* is over 16,777,216 bytes"):
            run.log_image("file", huge)
    with tracker.open_store(db_path) as store:
        assert store.image_keys(run.id) == []


def test_a_bad_image_found_by_the_writer_is_one_notice_and_training_goes_on(
    db_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    nan = np.full((3, 3), np.nan, np.float32)
    good = _rgb()
    with caplog.at_level(logging.WARNING, logger="tracker"):
        with tracker.init("images", db=db_path) as run:
            run.log_image("recon", nan, step=1)  # not read here: no error at the call
            run.log_image("recon", good, step=2)
            assert run.flush()
            run.log_image("recon", nan, step=3)  # the same key again: said once only
            run.log_image("damaged", b"\x89PNG\r\n\x1a\n not really", step=3)
            run.log({"loss": 0.5})
    said = [r.getMessage() for r in caplog.records if r.name == "tracker"]
    assert said == [
        f"tracker: run {run.id}: image 'recon' at step 1 was not stored: 9 of 9 values are NaN "
        "or infinite; images take finite floats in 0-1 (later bad images of this key are "
        "dropped without a word; training goes on)",
        f"tracker: run {run.id}: image 'damaged' at step 3 was not stored: the data is not a "
        "readable PNG or JPEG image (later bad images of this key are dropped without a word; "
        "training goes on)",
    ]
    with tracker.open_store(db_path) as store:
        assert store.image_steps(run.id, "recon") == [2]
        assert store.run(run.id).status == "finished" and store.run(run.id).last["loss"] == 0.5


def test_the_module_level_form_and_runs_that_store_nothing(db_path: Path) -> None:
    run = tracker.init("images", db=db_path)
    tracker.log_image("m", _rgb(), 4, "module")
    tracker.finish()
    with tracker.open_store(db_path) as store:
        assert store.image(run.id, "m", 4).caption == "module"
    with pytest.warns(UserWarning, match="finished"):
        run.log_image("m", _rgb(), 5)  # after finish: a warning, nothing stored
    with tracker.open_store(db_path) as store:
        assert store.image_steps(run.id, "m") == [4]
    null = tracker.DisabledRun("p")
    null.log_image("m", "not even an image", 1, "ignored")  # a rank that does not log: no-op
    with pytest.raises(tracker.NoActiveRunError):
        tracker.log_image("m", _rgb())


def test_images_survive_a_spill_file(tmp_path: Path) -> None:
    from tracker.run import spill
    from tracker.store.backend import ImageItem, TextItem

    image = images.encode(images.prepare("s", _rgb(), caption="c"))
    data = spill.Spilled("run1", [], None, [ImageItem("s", 4, 12.5, image),
                                            TextItem("t", 4, 12.5, "x")])
    db_path = tmp_path / "tracker.db"  # spill files are the store's kind's own: one is enough
    db_path.touch()
    path = spill.write(db_path, data)
    loaded = spill.load(path)
    assert loaded.records == data.records
    assert spill.sizes(loaded.records) >= len(image.data)


def test_host_copies_are_reused_once_encoded_without_mixing_images(db_path: Path) -> None:
    arrays = [_rgb(8, 8) for _ in range(4)]
    copies = []
    with tracker.init("images", db=db_path) as run:
        for step, array in enumerate(arrays):
            run.log_image("x", array, step=step)
            copies.append(run._writer.records[-1].pending.value)  # the copy prepare made
            assert run.flush()  # encoded: the copy goes back for the next image of its shape
    assert copies[1] is copies[0] and copies[3] is copies[0]  # one buffer served them all
    with tracker.open_store(db_path) as store:
        for step, array in enumerate(arrays):
            assert np.array_equal(_pixels(store.image(run.id, "x", step)), array)
