"""tracker.images: every input kind, the batch grid, the copy rule, formats, limits and messages."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tracker import images
from tracker.images import EncodedImage, ImageError, encode, prepare

RNG = np.random.default_rng(7)


def _pixels(encoded: EncodedImage) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(encoded.data)))


def _rgb(h: int = 6, w: int = 5, c: int = 3) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w, c), dtype=np.uint8)


def _log(value: object, **kw: object) -> EncodedImage:
    return encode(prepare("samples", value, **kw))


# --- numpy: layouts, dtypes, pixel-exact PNG ------------------------------------------------


@pytest.mark.parametrize("channels", [3, 4])
def test_numpy_rgb_and_rgba_round_trip_pixel_exact_as_png(channels: int) -> None:
    array = _rgb(17, 23, channels)
    encoded = _log(array)
    assert (encoded.format, encoded.width, encoded.height) == ("png", 23, 17)
    assert encoded.data.startswith(b"\x89PNG")
    assert np.array_equal(_pixels(encoded), array)


def test_grey_images_hw_and_hw1_are_single_channel() -> None:
    grey = RNG.integers(0, 256, size=(9, 4), dtype=np.uint8)
    for value in (grey, grey[:, :, None]):
        encoded = _log(value)
        assert Image.open(io.BytesIO(encoded.data)).mode == "L"
        assert np.array_equal(_pixels(encoded), grey)


def test_floats_are_clipped_to_0_1_and_rounded() -> None:
    values = np.array([[0.0, 0.5, 1.0, -0.2, 1.7, 0.25]], dtype=np.float32)
    assert _pixels(_log(values)).tolist() == [[0, 128, 255, 0, 255, 64]]
    assert _pixels(_log(values.astype(np.float64))).tolist() == [[0, 128, 255, 0, 255, 64]]
    assert _pixels(_log(values.astype(np.float16))).tolist() == [[0, 128, 255, 0, 255, 64]]


def test_bool_masks_are_black_and_white() -> None:
    mask = np.array([[True, False], [False, True]])
    assert _pixels(_log(mask)).tolist() == [[255, 0], [0, 255]]


def test_channels_first_single_image() -> None:
    hwc = _rgb(8, 10)
    assert np.array_equal(_pixels(_log(np.ascontiguousarray(hwc.transpose(2, 0, 1)))), hwc)


def test_a_batch_is_tiled_into_one_grid_row_by_row() -> None:
    batch = RNG.integers(1, 256, size=(5, 4, 6, 3), dtype=np.uint8)  # no zero: gaps are zero
    for value in (batch, np.ascontiguousarray(batch.transpose(0, 3, 1, 2))):
        encoded = _log(value)
        gap = images.GRID_GAP
        # 5 images: ceil(sqrt(5)) = 3 columns, 2 rows
        assert (encoded.width, encoded.height) == (3 * 6 + 2 * gap, 2 * 4 + gap)
        grid = _pixels(encoded)
        for i in range(5):
            top, left = (i // 3) * (4 + gap), (i % 3) * (6 + gap)
            assert np.array_equal(grid[top : top + 4, left : left + 6], batch[i])
        assert not grid[4 : 4 + gap].any() and not grid[:, 6 : 6 + gap].any()
        assert not grid[4 + gap :, 2 * (6 + gap) :].any()  # the sixth cell is empty


def test_a_batch_of_one_is_the_image_itself() -> None:
    array = _rgb(5, 7)
    assert np.array_equal(_pixels(_log(array[None])), array)


def test_an_ambiguous_shape_follows_the_framework_convention() -> None:
    import torch
    array = RNG.integers(0, 256, size=(3, 4, 4), dtype=np.uint8)
    as_numpy = _log(array)  # channels last: a 4 wide, 3 high RGBA image
    assert (as_numpy.width, as_numpy.height) == (4, 3)
    assert Image.open(io.BytesIO(as_numpy.data)).mode == "RGBA"
    as_torch = _log(torch.from_numpy(array))  # channels first, as torch images are
    assert (as_torch.width, as_torch.height) == (4, 4)
    assert np.array_equal(_pixels(as_torch), array.transpose(1, 2, 0))


def test_a_host_array_is_copied_so_later_changes_do_not_show() -> None:
    array = _rgb()
    expected = array.copy()
    pending = prepare("x", array)
    array[:] = 0
    assert np.array_equal(_pixels(encode(pending)), expected)


def test_an_array_that_nothing_can_change_is_not_copied() -> None:
    frozen = np.frombuffer(_rgb().tobytes(), dtype=np.uint8).reshape(6, 5, 3)
    assert not frozen.flags.writeable
    assert prepare("x", frozen).value is frozen
    view = _rgb()
    readonly_view = view[:]
    readonly_view.flags.writeable = False  # the base can still be written: copied
    assert prepare("x", readonly_view).value is not readonly_view


# --- frameworks -----------------------------------------------------------------------------


def test_torch_cpu_tensors_channels_first_float_with_grad() -> None:
    import torch
    chw = torch.rand(3, 6, 8, requires_grad=True)
    expected = (np.clip(chw.detach().numpy().transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)
    pending = prepare("recon", chw, caption="epoch 3")
    with torch.no_grad():
        chw.zero_()  # an in-place change after logging (an optimizer step) does not show
    encoded = encode(pending)
    assert encoded.caption == "epoch 3"
    assert np.array_equal(_pixels(encoded), expected)


def test_torch_batches_bfloat16_and_uint8() -> None:
    import torch
    nchw = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    grid = _pixels(_log(nchw))
    assert np.array_equal(grid[:5, :5], nchw[0].permute(1, 2, 0).numpy())
    half = torch.tensor([[0.0, 1.0], [0.5, 0.25]], dtype=torch.bfloat16)
    assert _pixels(_log(half)).tolist() == [[0, 255], [128, 64]]


def test_a_torch_device_tensor_is_cloned_not_read_on_the_callers_thread() -> None:
    import torch
    meta = torch.empty(3, 4, 4, device="meta")  # a device whose values cannot be read at all
    pending = prepare("x", meta)  # shape and dtype only: succeeds
    assert pending.kind == "torch" and pending.value is not meta
    with pytest.raises(ImageError, match=r"image 'x': the torch array cannot be read"):
        encode(pending)


def test_jax_arrays_are_kept_by_reference_and_read_by_encode() -> None:
    import jax.numpy as jnp
    array = _rgb(4, 9)
    device = jnp.asarray(array)
    pending = prepare("gen", device)
    assert pending.kind == "jax" and pending.value is device
    assert np.array_equal(_pixels(encode(pending)), array)
    half = jnp.asarray([[0.0, 1.0]], dtype=jnp.bfloat16)
    assert _pixels(_log(half)).tolist() == [[0, 255]]
    batch = _log(jnp.zeros((2, 1, 3, 5)))  # NCHW grey: the last size is no channel count
    assert (batch.width, batch.height) == (5 * 2 + images.GRID_GAP, 3)


def test_a_deleted_jax_array_is_a_clear_error_and_a_traced_one_is_refused() -> None:
    import jax
    array = jax.numpy.ones((4, 4))
    pending = prepare("gen", array)
    array.delete()  # as a later jitted call that donates it would
    with pytest.raises(ImageError, match=r"image 'gen': the jax array cannot be read .*deleted"):
        encode(pending)

    def step(x):
        prepare("inside", x)
        return x

    with pytest.raises(TypeError, match=r"image 'inside': got a traced value inside jit"):
        jax.jit(step)(jax.numpy.ones((4, 4)))


def test_tensorflow_tensors_and_variables() -> None:
    import tensorflow as tf
    array = _rgb(5, 3)
    assert np.array_equal(_pixels(_log(tf.constant(array))), array)
    variable = tf.Variable(tf.constant(array, dtype=tf.float32) / 255.0)
    pending = prepare("v", variable)
    variable.assign(tf.zeros_like(variable))  # after logging: does not show
    assert pending.kind == "tf"
    assert np.array_equal(_pixels(encode(pending)), array)
    assert _pixels(_log(tf.constant([[0.0, 1.0]], dtype=tf.bfloat16))).tolist() == [[0, 255]]


# --- PIL, figures, files, bytes -------------------------------------------------------------


def test_pil_images_any_mode_copied_at_prepare() -> None:
    array = _rgb(6, 6)
    pil = Image.fromarray(array)
    pending = prepare("pil", pil)
    pil.paste((0, 0, 0), (0, 0, 6, 6))  # changed after logging
    assert np.array_equal(_pixels(encode(pending)), array)
    palette = Image.fromarray(array).convert("P")
    assert np.array_equal(_pixels(_log(palette)), np.asarray(palette.convert("RGB")))
    rgba = Image.fromarray(_rgb(3, 3, 4))
    assert np.array_equal(_pixels(_log(rgba)), np.asarray(rgba))


def test_a_matplotlib_figure_is_drawn_by_agg_without_pyplot_or_display() -> None:
    code = r"""
import io, os, sys
os.environ.pop("DISPLAY", None)
from matplotlib.figure import Figure
from tracker.images import encode, prepare
fig = Figure(figsize=(2, 1), dpi=50)
fig.add_subplot().plot([0, 1], [1, 0])
pending = prepare("confusion", fig)
encoded = encode(pending)
print(encoded.format, encoded.width, encoded.height)
assert "matplotlib.pyplot" not in sys.modules
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["png", "100", "50"]


def test_a_pyplot_figure_renders_and_stays_open() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1), dpi=40)
    ax.imshow(np.eye(4))
    try:
        encoded = _log(fig, caption="cm")
        assert (encoded.format, encoded.width, encoded.height, encoded.caption) == ("png", 40, 40, "cm")
        assert plt.fignum_exists(fig.number)  # the user's figure is theirs to close
    finally:
        plt.close(fig)


def test_png_and_jpeg_files_are_kept_byte_for_byte(tmp_path: Path) -> None:
    array = _rgb(12, 16)
    for fmt in ("PNG", "JPEG"):
        path = tmp_path / f"x.{fmt.lower()}"
        Image.fromarray(array).save(path, format=fmt)
        pending = prepare("file", path)
        path.write_bytes(b"overwritten by the next epoch")  # read at prepare: not affected
        encoded = encode(pending)
        assert (encoded.format, encoded.width, encoded.height) == (fmt.lower(), 16, 12)
        Image.fromarray(array).save(buffer := io.BytesIO(), format=fmt)
        assert encoded.data == buffer.getvalue()
    Image.fromarray(array).save(tmp_path / "as-str.png")
    assert encode(prepare("str", str(tmp_path / "as-str.png"))).format == "png"


def test_other_formats_are_converted_to_png_and_bytes_are_taken(tmp_path: Path) -> None:
    array = _rgb(4, 4)
    path = tmp_path / "x.bmp"
    Image.fromarray(array).save(path)
    encoded = encode(prepare("bmp", path))
    assert encoded.format == "png" and np.array_equal(_pixels(encoded), array)
    png = io.BytesIO()
    Image.fromarray(array).save(png, format="PNG")
    assert encode(prepare("raw", png.getvalue())).data == png.getvalue()
    assert encode(prepare("raw", bytearray(png.getvalue()))).data == png.getvalue()


def test_files_that_are_missing_unreadable_or_no_image(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^image 'f': no file '.*nope.png'$"):
        prepare("f", tmp_path / "nope.png")
    with pytest.raises(ValueError, match=r"^image 'f': cannot read '.*': Is a directory$"):
        prepare("f", tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ImageError, match=r"^image 'f': the data is not an image Pillow reads$"):
        encode(prepare("f", tmp_path / "notes.txt"))
    png = io.BytesIO()
    Image.fromarray(_rgb(40, 40)).save(png, format="PNG")
    (tmp_path / "cut.png").write_bytes(png.getvalue()[:200])
    with pytest.raises(ImageError, match=r"^image 'f': the data cannot be decoded"):
        encode(prepare("f", tmp_path / "cut.png"))
    with pytest.raises(ValueError, match=r"^image 'f': the image data is empty$"):
        prepare("f", b"")


# --- formats, thresholds, limits ------------------------------------------------------------


def test_a_png_past_the_threshold_becomes_jpeg_unless_it_has_alpha(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "JPEG_ABOVE", 10_000)  # the rule, on small images
    ramp = np.linspace(0, 200, 100)[None, :, None] + np.zeros((100, 1, 3))
    photo = (ramp + RNG.normal(0, 6, (100, 100, 3))).clip(0, 255).astype(np.uint8)
    encoded = _log(photo)  # its PNG is past 10 KB
    assert encoded.format == "jpeg" and encoded.data.startswith(b"\xff\xd8")
    assert (encoded.width, encoded.height) == (100, 100)
    assert np.abs(_pixels(encoded).astype(int) - photo).mean() < 8  # lossy, but the image
    assert _log(np.concatenate([photo, photo[:, :, :1]], 2)).format == "png"  # JPEG has no alpha
    assert _log(np.zeros((100, 100, 3), np.uint8)).format == "png"  # flat: a small PNG


def test_the_default_threshold_keeps_a_512_rgb_image_lossless() -> None:
    noisy = _rgb(512, 512)  # random pixels: the worst case for PNG
    encoded = _log(noisy)
    assert encoded.format == "png" and np.array_equal(_pixels(encoded), noisy)


def test_size_limits_are_one_line_errors_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"^image 'big': 5000x5000 pixels; at most 16,777,216"):
        prepare("big", np.zeros((5000, 5000), np.uint8))
    with pytest.raises(ValueError, match=r"^image 'wide': 20000x1 pixels"):
        prepare("wide", np.zeros((1, 20000), np.uint8))
    with pytest.raises(ValueError, match=r"^image 'batch': 8198x8198 pixels"):
        prepare("batch", np.zeros((16, 2048, 2048), np.uint8)[:, :, :, None])
    monkeypatch.setattr(images, "MAX_BYTES", 10_000)
    with pytest.raises(ImageError, match=r"^image 'noise': 64x64 encodes to [\d,]+ bytes of PNG; at most 10,000"):
        encode(prepare("noise", _rgb(64, 64, 4)))
    with pytest.raises(ValueError, match=r"^image 'raw': 20,000 bytes of image data; at most 10,000$"):
        prepare("raw", b"\x89PNG\r\n\x1a\n" + bytes(19_992))


@pytest.mark.parametrize(("value", "error", "message"), [
    (np.zeros((5, 5, 2)), ValueError, r"shape \(5, 5, 2\) has no channel axis of size 1, 3 or 4"),
    (np.zeros(7), ValueError, r"shape \(7,\) is not an image"),
    (np.zeros((1, 2, 3, 4, 3)), ValueError, r"shape \(1, 2, 3, 4, 3\) is not an image"),
    (np.zeros((0, 4)), ValueError, r"shape \(0, 4\) is empty"),
    (np.zeros((4, 4), np.int64), TypeError, r"dtype int64 is not an image dtype; give uint8"),
    (np.zeros((4, 4), np.complex64), TypeError, r"dtype complex64 is not an image dtype"),
    ([np.zeros((4, 4))], TypeError, r"got a list; stack the images into one array"),
    ({"a": 1}, TypeError, r"cannot log a dict as an image"),
    (None, TypeError, r"cannot log a NoneType as an image"),
])
def test_bad_values_get_one_line_errors_naming_the_key(value: object, error: type, message: str) -> None:
    with pytest.raises(error, match=r"^image 'samples'") as info:
        prepare("samples", value)
    assert "\n" not in str(info.value)
    assert pytest.raises(error, prepare, "samples", value).match(message)


def test_non_finite_floats_are_reported_at_encode() -> None:
    values = np.zeros((3, 3), np.float32)
    values[0, 0], values[1, 1] = np.nan, np.inf
    pending = prepare("recon", values)  # not read on the caller's thread
    with pytest.raises(ImageError, match=r"^image 'recon': 2 of 9 values are NaN or infinite; "
                                         r"images take finite floats in 0-1$"):
        encode(pending)


def test_keys_and_captions_are_checked() -> None:
    with pytest.raises(ValueError, match="image key '' is empty"):
        prepare("", _rgb())
    with pytest.raises(TypeError, match=r"^image 'k': caption must be a str, not int$"):
        prepare("k", _rgb(), caption=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^image 'k': caption is 5000 characters; at most 4096$"):
        prepare("k", _rgb(), caption="x" * 5000)
    assert _log(_rgb(), caption="line\x1b[31m").caption == "line\x1b[31m"  # data, kept as given


def test_tile_encoded_images_of_mixed_modes_and_sizes() -> None:
    grey = _log(np.full((2, 3), 200, np.uint8))
    rgb = _log(_rgb(4, 2))
    grid = images.tile([grey, rgb], key="t", caption="both")
    assert (grid.width, grid.height, grid.caption) == (2 * 3 + images.GRID_GAP, 4, "both")
    pixels = _pixels(grid)
    assert (pixels[:2, :3] == 200).all() and np.array_equal(pixels[:, 5:7], _pixels(rgb))
    only = images.tile([rgb])
    assert only.data == rgb.data


def test_importing_the_module_loads_no_pil_matplotlib_or_framework() -> None:
    probe = ("import sys, tracker.images\n"
             "print(sorted(m for m in ('PIL', 'matplotlib', 'torch', 'jax', 'tensorflow') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_keras_variable_logs_its_backend_tensor() -> None:
    import keras

    array = _rgb(3, 5)
    variable = keras.Variable(array.astype("float32") / 255)
    pending = prepare("kv", variable)
    variable.assign(np.zeros((3, 5, 3), "float32"))  # after logging: does not show
    assert np.array_equal(_pixels(encode(pending)), array)
