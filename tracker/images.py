"""Logged images: checked on the caller's thread (``prepare``), made PNG or JPEG on the writer's (``encode``).

``prepare`` looks only at what an array says about itself (shape, dtype): it never reads a device
array (a CUDA tensor, a JAX or TensorFlow array), so the training loop never waits for the device.
Host memory that the caller may change in place after logging is copied (a 256x256 RGB uint8 array
is 196 KB: a few microseconds); a torch device tensor is cloned on its own stream (no host wait)
for the same reason; JAX and TensorFlow arrays cannot change, so a reference is kept. A matplotlib
figure is rendered and a file is read on the caller's thread: both can change right after the
call (the figure is reused, the file overwritten by the next epoch), and matplotlib is not
thread-safe.

``encode`` turns what ``prepare`` kept into one PNG (lossless) or, when that PNG is larger than
``JPEG_ABOVE`` and the image has no alpha, a JPEG. A batch becomes one grid (see docs/images.md).
Pillow and matplotlib are imported only inside functions, when an image is met.
"""

from __future__ import annotations

import io
import math
import os
import struct
import sys
from typing import Any

import numpy as np

from .records import EncodedImage
from .run.values import check_key

MAX_SIDE = 16_384  # pixels a side (JPEG's own limit is 65,500)
MAX_PIXELS = 4096 * 4096  # pixels of one logged image, a batch's grid included
MAX_BYTES = 16 << 20  # bytes of one encoded image or image file
JPEG_ABOVE = 1 << 20  # a PNG larger than this (a photo-like image past ~600x600) becomes a JPEG
JPEG_QUALITY = 90
PNG_LEVEL = 1  # zlib level: 1.5-7x faster than Pillow's default 6, files 4-70% larger (measured)
GRID_GAP = 2  # pixels between the images of a batch's grid
MAX_CAPTION = 4096  # characters
FORMATS = ("png", "jpeg")

_DTYPES = frozenset(("uint8", "bool", "float16", "bfloat16", "float32", "float64"))
_CHANNELS = (1, 3, 4)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


class ImageError(ValueError):
    """An image that cannot be logged or read: past the size limits, non-finite values, data
    that is no readable image. Its message is one line that names the key; ``reason`` is that
    line without the key (for readers that say where the image came from their own way)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"image {key!r}: {reason}")
        self.key = key
        self.reason = reason


class ImageDtypeError(TypeError, ValueError):
    """An array of a dtype no image is made of: a ``TypeError``, and a ``ValueError`` as the
    other bad shapes and values are (``except ValueError`` catches every bad image)."""


class PendingImage:
    """What ``prepare`` kept of a logged image until the writer thread encodes it."""

    __slots__ = ("caption", "key", "kind", "layout", "owned", "value")

    def __init__(self, key: str, kind: str, value: Any, layout: str, caption: str | None,
                 owned: bool = False) -> None:
        self.key = key
        # "array" (host numpy), "torch" / "jax" / "tf" (device values, read by the writer),
        # "encoded" (PNG/JPEG bytes: a file, a figure), "file" (another format's bytes), "pil"
        self.kind = kind
        self.value = value
        self.layout = layout  # "HW", "HWC", "CHW", "NHWC" or "NCHW" for arrays; "" otherwise
        self.caption = caption
        self.owned = owned  # value is a copy made by prepare: ``recycle`` may reuse its memory

    def __repr__(self) -> str:
        return f"PendingImage({self.key!r}, {self.kind})"


# ---------------------------------------------------------------------------------------------
# The caller's thread


def prepare(key: str, value: Any, caption: str | None = None) -> PendingImage:
    """Check ``value`` as an image for ``key`` and keep what the writer thread needs to encode it.

    Takes numpy, torch, TensorFlow and JAX arrays shaped (H,W), (H,W,C), (C,H,W), (N,H,W,C) or
    (N,C,H,W) with C in 1/3/4, of uint8 (0-255), bool or float (0-1, clipped); PIL images;
    matplotlib figures; PNG/JPEG bytes; paths of image files.

    Raises:
        TypeError: a value that is no image, or an array of another dtype (``ImageDtypeError``,
            a ValueError too).
        ValueError: a bad shape, an image past the size limits, a file that cannot be read.
    """
    check_key(key, "image")
    if caption is not None:
        caption = _check_caption(key, caption)
    if type(value) is np.ndarray:  # the common case first: no framework lookups
        return _host_array(key, value, caption, channels_first=False)
    modules = sys.modules
    torch = modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return _torch(key, value, caption)
    jax = modules.get("jax")
    if jax is not None and isinstance(value, jax.Array):
        return _jax(key, value, caption, jax)
    keras = modules.get("keras")
    if keras is not None and isinstance(value, getattr(keras, "Variable", ())):
        return prepare(key, value.value, caption)  # the backend tensor it wraps
    tf = modules.get("tensorflow")
    if tf is not None and isinstance(value, (tf.Tensor, tf.Variable)):
        return _tf(key, value, caption, tf)
    if isinstance(value, np.ndarray):
        return _host_array(key, value, caption, channels_first=False)
    pil = modules.get("PIL.Image")
    if pil is not None and isinstance(value, pil.Image):
        return _pil(key, value, caption)
    figure = modules.get("matplotlib.figure")
    if figure is not None and isinstance(value, figure.Figure):
        return PendingImage(key, "encoded", _render_figure(key, value), "", caption)
    if isinstance(value, (str, os.PathLike)):
        return _file(key, value, caption)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes(key, bytes(value), caption)
    if isinstance(value, (list, tuple)):
        raise TypeError(f"image {key!r}: got a {type(value).__name__}; stack the images into one "
                        "array (N,H,W,C) to log a batch")
    raise TypeError(f"image {key!r}: cannot log a {type(value).__name__} as an image; give an "
                    "array, a PIL image, a matplotlib figure or a PNG/JPEG path")


def _check_caption(key: str, caption: Any) -> str:
    if not isinstance(caption, str):
        raise TypeError(f"image {key!r}: caption must be a str, not {type(caption).__name__}")
    if len(caption) > MAX_CAPTION:
        raise ValueError(f"image {key!r}: caption is {len(caption)} characters; at most "
                         f"{MAX_CAPTION}")
    return caption


def _layout(key: str, shape: tuple[int, ...], channels_first: bool) -> str:
    """The layout of an array shape, its pixel count checked against the limits.

    3-d and 4-d shapes are channels-last when their last size is a channel count and
    channels-first when only the size before height is; when both are (a (3,4,4) array) the
    framework's convention decides: channels-first for torch, channels-last for the rest.
    """
    ndim = len(shape)
    if ndim == 2:
        layout, n, h, w = "HW", 1, shape[0], shape[1]
    elif ndim in (3, 4):
        lead = shape[0] if ndim == 3 else shape[1]
        last_ok, lead_ok = shape[-1] in _CHANNELS, lead in _CHANNELS
        if last_ok and not (lead_ok and channels_first):
            layout = "HWC" if ndim == 3 else "NHWC"
            h, w = shape[-3], shape[-2]
        elif lead_ok:
            layout = "CHW" if ndim == 3 else "NCHW"
            h, w = shape[-2], shape[-1]
        else:
            raise ValueError(
                f"image {key!r}: shape {tuple(shape)} has no channel axis of size 1, 3 or 4; "
                "give (H,W), (H,W,C), (C,H,W), (N,H,W,C) or (N,C,H,W)")
        n = shape[0] if ndim == 4 else 1
    else:
        raise ValueError(f"image {key!r}: shape {tuple(shape)} is not an image; give (H,W), "
                         "(H,W,C), (C,H,W), (N,H,W,C) or (N,C,H,W) with C in 1, 3, 4")
    if n < 1 or h < 1 or w < 1:
        raise ValueError(f"image {key!r}: shape {tuple(shape)} is empty")
    _check_pixels(key, *grid_size(n, w, h))
    return layout


def grid_size(n: int, width: int, height: int) -> tuple[int, int]:
    """(width, height) of the grid that ``n`` images of width x height are tiled into."""
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    return cols * width + (cols - 1) * GRID_GAP, rows * height + (rows - 1) * GRID_GAP


def _check_pixels(key: str, width: int, height: int) -> None:
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageError(key, f"{width}x{height} pixels; at most {MAX_PIXELS:,} pixels and "
                         f"{MAX_SIDE:,} a side: log a smaller image (or fewer in a batch)")


def _check_dtype(key: str, name: str) -> None:
    if name not in _DTYPES:
        raise ImageDtypeError(f"image {key!r}: dtype {name} is not an image dtype; give uint8 "
                              "(0-255) or float (0-1), e.g. .astype(np.uint8)")


def _host_array(key: str, value: np.ndarray, caption: str | None, channels_first: bool,
                ) -> PendingImage:
    _check_dtype(key, value.dtype.name)
    layout = _layout(key, value.shape, channels_first)
    if not _may_change(value):
        return PendingImage(key, "array", value, layout, caption)
    # the caller may change it in place once this returns: copied
    return PendingImage(key, "array", _BUFFERS.copy(value), layout, caption, owned=True)


def _may_change(array: np.ndarray) -> bool:
    """Whether the memory of ``array`` can be written through any reference (then it is copied).

    Only an array that is read-only all the way down to immutable bytes (np.frombuffer of
    bytes, a read-only array owning its data) is kept as it is.
    """
    while True:
        if array.flags.writeable:
            return True
        base = array.base
        if base is None or isinstance(base, bytes):
            return False
        if not isinstance(base, np.ndarray):
            return True  # memory of another object (a tensor, a buffer): it may change
        array = base


class _Buffers:
    """Host copies made by ``prepare``, given back once encoded and reused for the next image of
    the same shape and dtype: memory the process touched already. A fresh 196 KB copy costs
    page faults each time (50-250 us measured on the development machine when the writer frees
    copies on its own thread, 5 us reused). At most ``POOL_BYTES`` are kept."""

    def __init__(self) -> None:
        self._free: dict[tuple[tuple[int, ...], str], list[np.ndarray]] = {}
        self._bytes = 0  # about: updated without a lock (only a bound)

    def copy(self, array: np.ndarray) -> np.ndarray:
        free = self._free.get((array.shape, array.dtype.str))
        buffer = None
        if free:
            try:
                buffer = free.pop()  # atomic: another thread may take the last one first
                self._bytes -= buffer.nbytes
            except IndexError:
                pass
        if buffer is None:
            buffer = np.empty(array.shape, array.dtype)
        if array.flags.c_contiguous:
            # memcpy with the GIL held: numpy's copy lets the GIL go for a large array, and
            # the writer thread (encoding) may then keep it for a switch interval (5 ms)
            memoryview(buffer).cast("B")[:] = memoryview(array).cast("B")
        else:
            np.copyto(buffer, array)
        return buffer

    def give_back(self, array: np.ndarray) -> None:
        if self._bytes + array.nbytes > POOL_BYTES or not array.flags.c_contiguous:
            return
        self._free.setdefault((array.shape, array.dtype.str), []).append(array)
        self._bytes += array.nbytes


POOL_BYTES = 32 << 20  # host copies kept for reuse
_BUFFERS = _Buffers()


def recycle(pending: PendingImage) -> None:
    """Give the copy ``prepare`` made back for reuse, once ``pending`` is encoded (it must not
    be used again)."""
    if pending.owned and pending.kind == "array":
        _BUFFERS.give_back(pending.value)
    pending.value = None


def _torch(key: str, value: Any, caption: str | None) -> PendingImage:
    name = str(value.dtype).removeprefix("torch.")
    _check_dtype(key, name)
    layout = _layout(key, tuple(value.shape), channels_first=True)
    value = value.detach()
    if value.device.type != "cpu":
        # A clone on the tensor's stream holds its values as of now without waiting for the
        # device: the caller may change the original in place (an optimizer step on a weight).
        return PendingImage(key, "torch", value.clone(), layout, caption)
    try:
        # host memory the caller may change: copied (bfloat16, which numpy lacks, by .float())
        array = _BUFFERS.copy(value.numpy()) if name != "bfloat16" else value.float().numpy()
    except (RuntimeError, TypeError) as exc:  # a meta, sparse or otherwise unreadable tensor
        raise TypeError(f"image {key!r}: this tensor cannot be read ({exc})") from None
    return PendingImage(key, "array", array, layout, caption, owned=True)


def _jax(key: str, value: Any, caption: str | None, jax: Any) -> PendingImage:
    tracer = getattr(jax.core, "Tracer", ())
    if isinstance(value, tracer):
        raise TypeError(f"image {key!r}: got a traced value inside jit; return the image from "
                        "the jitted function and log it outside")
    _check_dtype(key, value.dtype.name)
    layout = _layout(key, tuple(value.shape), channels_first=False)
    return PendingImage(key, "jax", value, layout, caption)  # immutable: read by the writer


def _tf(key: str, value: Any, caption: str | None, tf: Any) -> PendingImage:
    if isinstance(value, tf.Variable):
        value = value.read_value()  # a snapshot: a later assign() must not change the image
    _check_dtype(key, value.dtype.name)
    shape = value.shape
    if shape.rank is None or any(d is None for d in shape):
        raise ValueError(f"image {key!r}: a tensor of unknown shape {shape}; log an eager tensor")
    layout = _layout(key, tuple(int(d) for d in shape), channels_first=False)
    return PendingImage(key, "tf", value, layout, caption)


def _pil(key: str, image: Any, caption: str | None) -> PendingImage:
    _check_pixels(key, *image.size)
    if image.width < 1 or image.height < 1:
        raise ValueError(f"image {key!r}: the PIL image is empty ({image.width}x{image.height})")
    return PendingImage(key, "pil", image.copy(), "", caption)  # PIL images change in place


def _render_figure(key: str, figure: Any) -> bytes:
    """The figure as PNG bytes, drawn by Agg through ``savefig`` (no display, never shown)."""
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png")
    except Exception as exc:  # a figure that cannot be drawn (a bad artist, a huge dpi)
        raise ValueError(f"image {key!r}: the figure cannot be drawn ({type(exc).__name__}: "
                         f"{str(exc)[:200]})") from None
    data = buffer.getvalue()
    if len(data) > MAX_BYTES:
        raise ValueError(f"image {key!r}: the figure's PNG is {len(data):,} bytes; at most "
                         f"{MAX_BYTES:,}: lower its size or dpi")
    return data


def _file(key: str, path: str | os.PathLike[str], caption: str | None) -> PendingImage:
    # Read now: the file is often overwritten by the next epoch's image before the writer runs.
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ValueError(f"image {key!r}: no file {os.fspath(path)!r}") from None
    except OSError as exc:
        raise ValueError(f"image {key!r}: cannot read {os.fspath(path)!r}: "
                         f"{exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise ValueError(f"image {key!r}: {os.fspath(path)!r} is over {MAX_BYTES:,} bytes; "
                         "log a smaller image")
    return _bytes(key, data, caption)


def _bytes(key: str, data: bytes, caption: str | None) -> PendingImage:
    if len(data) > MAX_BYTES:
        raise ValueError(f"image {key!r}: {len(data):,} bytes of image data; at most "
                         f"{MAX_BYTES:,}")
    if not data:
        raise ValueError(f"image {key!r}: the image data is empty")
    kind = "encoded" if data.startswith((_PNG_MAGIC, _JPEG_MAGIC)) else "file"
    return PendingImage(key, kind, data, "", caption)


# ---------------------------------------------------------------------------------------------
# The writer thread


def encode(pending: PendingImage) -> EncodedImage:
    """Encode a prepared image (on the writer thread: this reads device arrays and compresses).

    Raises:
        ImageError: non-finite float values, data that is not a readable image, an image past
            the limits once encoded. The message is one line that names the key.
    """
    key, kind, caption = pending.key, pending.kind, pending.caption
    if kind == "encoded":
        return verify(pending.value, key, caption)
    if kind == "file":
        return _encode_pil(key, _open(key, pending.value, formats=None), caption)
    if kind == "pil":
        return _encode_pil(key, pending.value, caption)
    array = _host_values(key, kind, pending.value)
    pixels = _as_uint8(key, array)
    return encode_array(pixels, pending.layout, key=key, caption=caption)


def encode_array(pixels: np.ndarray, layout: str, *, key: str = "image",
                 caption: str | None = None) -> EncodedImage:
    """Encode a uint8 array of the given layout (a batch as one grid)."""
    batch = _to_nhwc(pixels, layout)
    image = batch[0] if len(batch) == 1 else tile_arrays(list(batch))
    from PIL import Image

    mode = {1: "L", 3: "RGB", 4: "RGBA"}[image.shape[2]]
    pil = Image.fromarray(image[:, :, 0] if mode == "L" else image, mode)
    return _encode_pil(key, pil, caption)


def _host_values(key: str, kind: str, value: Any) -> np.ndarray:
    """The values of an array as numpy, read from the device where they live."""
    try:
        if kind == "torch":
            if str(value.dtype) == "torch.bfloat16":
                value = value.float()
            return value.cpu().numpy()
        if kind == "jax":
            array = np.asarray(value)
            return array.astype(np.float32) if array.dtype.name == "bfloat16" else array
        if kind == "tf":
            if value.dtype.name == "bfloat16":
                value = value.numpy().astype(np.float32)
                return value
            return value.numpy()
    except Exception as exc:  # a deleted (donated) JAX buffer, a device error
        hint = ""
        if kind == "jax" and "delete" in str(exc).lower():
            hint = "; it was deleted first (donated to a later jitted call?)"
        raise ImageError(key, f"the {kind} array cannot be read ({type(exc).__name__}{hint})",
                         ) from None
    return value


def _as_uint8(key: str, array: np.ndarray) -> np.ndarray:
    """uint8 pixels: uint8 as is, bool as 0/255, floats clipped to 0-1 and rounded."""
    dtype = array.dtype
    if dtype == np.uint8:
        return array
    if dtype == np.bool_:
        return array.astype(np.uint8) * np.uint8(255)
    values = array.astype(np.float32, copy=False)
    finite = np.isfinite(values)
    if not finite.all():
        bad = int(values.size - np.count_nonzero(finite))
        raise ImageError(key, f"{bad:,} of {values.size:,} values are NaN or infinite; images "
                         "take finite floats in 0-1")
    out = np.clip(values, 0.0, 1.0)
    out *= 255.0
    out += 0.5
    return out.astype(np.uint8)  # truncation of x + 0.5: rounds half up


def _to_nhwc(array: np.ndarray, layout: str) -> np.ndarray:
    if layout == "HW":
        return array[None, :, :, None]
    if layout == "HWC":
        return array[None]
    if layout == "CHW":
        return array.transpose(1, 2, 0)[None]
    if layout == "NCHW":
        return array.transpose(0, 2, 3, 1)
    return array  # NHWC


def tile_arrays(images: list[np.ndarray]) -> np.ndarray:
    """Images (H,W,C) of one dtype and channel count as one grid: ceil(sqrt(N)) columns filled
    row by row, ``GRID_GAP`` pixels apart (black, transparent for RGBA), each cell as large as
    the largest image, smaller ones at its top left."""
    n = len(images)
    height = max(a.shape[0] for a in images)
    width = max(a.shape[1] for a in images)
    cols = math.ceil(math.sqrt(n))
    grid_w, grid_h = grid_size(n, width, height)
    grid = np.zeros((grid_h, grid_w, images[0].shape[2]), dtype=images[0].dtype)
    for i, image in enumerate(images):
        top = (i // cols) * (height + GRID_GAP)
        left = (i % cols) * (width + GRID_GAP)
        grid[top : top + image.shape[0], left : left + image.shape[1]] = image
    return grid


def _encode_pil(key: str, image: Any, caption: str | None) -> EncodedImage:
    """A PIL image as PNG, or JPEG when the PNG is past ``JPEG_ABOVE`` and JPEG can hold it."""
    width, height = image.size
    _check_encoded_size(key, width, height)
    image = _storable(image)
    png = io.BytesIO()
    image.save(png, format="PNG", compress_level=PNG_LEVEL)
    data, fmt = png.getvalue(), "png"
    if len(data) > JPEG_ABOVE and image.mode in ("L", "RGB"):
        jpeg = io.BytesIO()
        image.save(jpeg, format="JPEG", quality=JPEG_QUALITY)
        if len(jpeg.getvalue()) < len(data):
            data, fmt = jpeg.getvalue(), "jpeg"
    if len(data) > MAX_BYTES:
        raise ImageError(key, f"{width}x{height} encodes to {len(data):,} bytes of "
                         f"{fmt.upper()}; at most {MAX_BYTES:,}: log a smaller image")
    return EncodedImage(fmt, data, width, height, caption)


def _check_encoded_size(key: str, width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise ImageError(key, f"the image is empty ({width}x{height})")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageError(key, f"{width}x{height} pixels; at most {MAX_PIXELS:,} pixels and "
                         f"{MAX_SIDE:,} a side")


def _storable(image: Any) -> Any:
    """The image in a mode PNG stores as it is (grey, RGB, RGBA, 1-bit, 16-bit grey)."""
    mode = image.mode
    if mode in ("1", "L", "LA", "RGB", "RGBA", "I;16"):
        return image
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    return image.convert("RGBA" if "A" in mode else "RGB")


def _open(key: str, data: bytes, formats: tuple[str, ...] | None) -> Any:
    """Decode image bytes with Pillow (fully: a damaged file fails here, not later), after
    checking the size its header declares."""
    from PIL import Image

    if data.startswith(_PNG_MAGIC) and data[12:16] == b"IHDR" and len(data) >= 24:
        # the size a PNG declares, checked before Pillow sees it (its own bomb check warns or
        # raises only far past our limit)
        _check_encoded_size(key, *struct.unpack(">II", data[16:24]))
    try:
        image = Image.open(io.BytesIO(data), formats=formats)
        _check_encoded_size(key, *image.size)
        image.load()
    except ImageError:
        raise
    except Exception as exc:  # Pillow raises many kinds for damaged data
        what = "is not an image Pillow reads" if isinstance(exc, Image.UnidentifiedImageError) \
            else f"cannot be decoded ({type(exc).__name__}: {str(exc)[:120]})"
        if formats:
            what = f"is not a readable {' or '.join(formats)} image" \
                if isinstance(exc, Image.UnidentifiedImageError) else what
        raise ImageError(key, f"the data {what}") from None
    return image


def verify(data: bytes, key: str = "image", caption: str | None = None) -> EncodedImage:
    """PNG or JPEG bytes as an ``EncodedImage``, kept byte for byte once they decode whole
    within the limits (``ImageError`` if not)."""
    if len(data) > MAX_BYTES:
        raise ImageError(key, f"{len(data):,} bytes of image data; at most {MAX_BYTES:,}")
    image = _open(key, data, formats=("PNG", "JPEG"))
    fmt = "png" if image.format == "PNG" else "jpeg"  # MPO: a JPEG with more frames appended
    return EncodedImage(fmt, data, image.width, image.height, caption)


def decode(image: EncodedImage) -> Any:
    """The pixels of an encoded image as a PIL image (for display)."""
    return _open("image", image.data, formats=("PNG", "JPEG"))


def tile(images: list[EncodedImage], key: str = "image", caption: str | None = None,
         ) -> EncodedImage:
    """Several encoded images as one grid (the batch rule), encoded again (PNG unless large)."""
    if len(images) == 1:
        only = images[0]
        return EncodedImage(only.format, only.data, only.width, only.height, caption)
    decoded = [_storable(decode(image)) for image in images]
    alpha = any(d.mode in ("RGBA", "LA") for d in decoded)
    grey = all(d.mode in ("1", "L") for d in decoded)
    mode = "RGBA" if alpha else "L" if grey else "RGB"
    arrays = [np.asarray(d.convert(mode)) for d in decoded]
    if mode == "L":
        arrays = [a[:, :, None] for a in arrays]
    width = max(a.shape[1] for a in arrays)
    height = max(a.shape[0] for a in arrays)
    _check_pixels(key, *grid_size(len(arrays), width, height))
    return encode_array(tile_arrays(arrays), "HWC", key=key, caption=caption)
