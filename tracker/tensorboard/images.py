"""Image summaries both ways: ``EncodedImage`` -> the images plugin's tensor form, and back.

Export writes what ``tf.summary.image`` writes: a DT_STRING tensor ``[width, height, image]`` under
the ``images`` plugin, which TensorBoard's Images tab (Rust loader and ``EventAccumulator``) shows.
A caption goes beside it, in the same Event, as a text summary ``<tag>/caption``: TensorBoard keeps
no caption per image, and this way its Text tab shows each step's caption and our reader gives it
back to the image it came with.

Import reads that form (``tf.summary.image``, N images to a value) and the legacy
``Summary.Image`` that ``torch.utils.tensorboard`` and tensorboardX write. Event files are data
from anywhere: what a value declares (width, height, how many images) is checked against the
bytes it holds and against the limits of ``tracker.images`` before a pixel is decoded, and every
image is decoded whole (a damaged one is reported, not kept). Several images in one value become
one grid, the batch rule of ``tracker.images``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.text import summary_v2 as text_v2

from ..images import MAX_PIXELS, MAX_SIDE, EncodedImage, ImageError, grid_size, tile, verify
from .records import RecordProblem

PLUGIN = image_metadata.PLUGIN_NAME  # "images"
CAPTION_SUFFIX = "/caption"
_DT_STRING = 7


def image_value(tag: str, image: EncodedImage) -> summary_pb2.Summary.Value:
    """The images plugin's value for one encoded image (as ``tf.summary.image`` writes it)."""
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=3)])
    tensor = tensor_pb2.TensorProto(
        dtype=_DT_STRING, tensor_shape=shape,
        string_val=[str(image.width).encode(), str(image.height).encode(), image.data])
    metadata = image_metadata.create_summary_metadata(display_name=tag, description="")
    return summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)


def image_event(tag: str, step: int, wall: float, image: EncodedImage) -> bytes:
    """An Event (serialized, not framed) holding the image and, if it has one, its caption."""
    values = [image_value(tag, image)]
    if image.caption:
        values.extend(text_v2.text_pb(tag + CAPTION_SUFFIX, image.caption).value)
    summary = summary_pb2.Summary(value=values)
    return event_pb2.Event(wall_time=wall, step=step, summary=summary).SerializeToString()


def is_image(value: Any, which: str, plugin: str) -> bool:
    """Whether a Summary.Value is an image summary (legacy or the plugin's tensor)."""
    return which == "image" or (which == "tensor" and plugin == PLUGIN)


def read_image(value: Any, which: str) -> EncodedImage | None:
    """The image a value holds (a grid when it holds several; None when it holds none).

    Raises:
        ValueError: what the value declares does not match what it holds, an image is past the
            limits of ``tracker.images`` or does not decode.
    """
    try:
        if which == "image":
            return _legacy(value.image)
        return _tensor(value.tensor)
    except ImageError as exc:
        raise ValueError(exc.reason) from None


def _legacy(image: Any) -> EncodedImage:
    """``Summary.Image``: one encoded image with its declared height and width."""
    found = verify(image.encoded_image_string, "image")
    _same_size(found, image.width, image.height)
    return found


def _tensor(tensor: Any) -> EncodedImage | None:
    """A ``[width, height, image...]`` string tensor (``tf.summary.image``)."""
    if tensor.dtype != _DT_STRING:
        raise ValueError(f"image tensor of dtype {tensor.dtype}, not a string tensor")
    dims = [d.size for d in tensor.tensor_shape.dim]
    held = len(tensor.string_val)
    if len(dims) != 1 or dims[0] != held or held < 2:
        raise ValueError(f"image tensor of shape {dims} holding {held} strings is not "
                         "[width, height, image...]")
    width, height = (_dimension(s) for s in tensor.string_val[:2])
    count = held - 2
    if count == 0:
        return None  # an empty batch: nothing to show
    grid_width, grid_height = grid_size(count, width, height)  # checked before any decoding
    if width > MAX_SIDE or height > MAX_SIDE or grid_width * grid_height > MAX_PIXELS:
        raise ValueError(f"{count} image(s) of {width}x{height} pixels; at most "
                         f"{MAX_PIXELS:,} pixels and {MAX_SIDE:,} a side are read")
    found = [verify(data, "image") for data in tensor.string_val[2:]]
    for image in found:
        _same_size(image, width, height)
    return tile(found)


def _dimension(text: bytes) -> int:
    if not (0 < len(text) <= 6 and text.isdigit()):
        raise ValueError(f"image size {text[:20]!r} is not a number of pixels")
    return int(text)


def _same_size(image: EncodedImage, width: int, height: int) -> None:
    if (image.width, image.height) != (width, height):
        raise ValueError(f"image declares {width}x{height} pixels but holds "
                         f"{image.width}x{image.height}")


def caption_tags(values: Any, plugins: dict[str, str]) -> dict[str, str]:
    """Image tag -> the caption text value's tag, for captions written beside their image in
    one Event (as ``image_event`` does)."""
    by_tag = {value.tag: value for value in values}
    found = {}
    for tag in by_tag:
        image = by_tag.get(tag[: -len(CAPTION_SUFFIX)]) if tag.endswith(CAPTION_SUFFIX) else None
        if image is not None and is_image(image, image.WhichOneof("value"), _plugin(image, plugins)):
            found[image.tag] = tag
    return found


def _plugin(value: Any, plugins: dict[str, str]) -> str:
    if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
        return value.metadata.plugin_data.plugin_name
    return plugins.get(value.tag, "")


def with_caption(image: EncodedImage, caption: str | None) -> EncodedImage:
    """The image carrying ``caption``."""
    return replace(image, caption=caption)


def read_images(
    files: list[Path], problems: list[RecordProblem] | None = None,
) -> list[tuple[str, int, float, EncodedImage]]:
    """Every image of one run's event files as ``(tag, step, wall, image)``, in file order per
    tag; damaged values are listed in ``problems`` and skipped."""
    from .reader import read_run

    data = read_run(files, {}, problems if problems is not None else [], images=True)
    return [(tag, step, wall, image)
            for tag, points in data.images.items() for step, wall, image in points]
