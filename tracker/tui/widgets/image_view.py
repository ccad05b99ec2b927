"""Provides the image view: one logged image drawn in the terminal, with its caption and step.

Kitty's graphics protocol or Sixel draw through textual-image where the terminal answers that it
speaks one; everywhere else (tmux, a terminal that does not answer, a pipe) coloured half blocks,
two pixels a cell, drawn by ``half_blocks`` (textual-image's own half blocks took 1.8x the CPU
a step and missed the 50 ms target: see that module). textual-image asks the terminal when it
is imported, and that works only before the app starts reading the keyboard: this module imports
it at its own import, so import it before ``App.run()`` (the app's modules do, at import time).
The ``TRACKER_IMAGE_PROTOCOL`` variable (``kitty``, ``sixel`` or ``halfcell``) overrides it.

The image is scaled to fit the view with its aspect kept (cell shape included), larger images
down with Lanczos, smaller ones up with nearest neighbours so each logged pixel stays a sharp
block. Caption and step are data from a run: shown literally, never as markup or escapes.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import numpy as np
from PIL import Image as PILImage
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container
from textual.widget import Widget
from textual.widgets import Static
from textual_image._terminal import get_cell_size  # 0.12: not exported, the widgets' own source
from textual_image.renderable import Image as _DetectedRenderable
from textual_image.renderable import SixelImage as _SixelRenderable
from textual_image.renderable import TGPImage as _TGPRenderable
from textual_image.widget import SixelImage, TGPImage

from ...format import literal
from ...images import EncodedImage, ImageError, decode
from .half_blocks import HalfBlocks

PROTOCOLS = ("kitty", "sixel", "halfcell")
_WIDGETS: dict[str, type[Widget]] = {"kitty": TGPImage, "sixel": SixelImage,
                                     "halfcell": HalfBlocks}
_TGP_MAX_CELLS = 297  # the Kitty placeholder diacritics textual-image has: rows and columns
PROTOCOL_VARIABLE = "TRACKER_IMAGE_PROTOCOL"
CACHED_DRAWINGS = 16  # images kept drawn at their current size


def detect_protocol() -> str:
    """The best protocol this terminal answered for ('kitty', 'sixel', else 'halfcell'), or
    the one ``TRACKER_IMAGE_PROTOCOL`` names."""
    forced = os.environ.get(PROTOCOL_VARIABLE, "").strip().lower()
    if forced in PROTOCOLS:
        return forced
    if _DetectedRenderable is _TGPRenderable:
        return "kitty"
    if _DetectedRenderable is _SixelRenderable:
        return "sixel"
    return "halfcell"  # textual-image's own choice without a terminal is plain characters


def fit(width: int, height: int, cols: int, rows: int, cell: tuple[int, int]) -> tuple[int, int]:
    """(columns, rows) of the largest area within ``cols`` x ``rows`` cells of ``cell`` pixels
    (width, height) that shows a ``width`` x ``height`` image with its aspect kept."""
    if width < 1 or height < 1 or cols < 1 or rows < 1:
        return 0, 0
    cell_w, cell_h = cell
    scale = min(cols * cell_w / width, rows * cell_h / height)
    return (max(1, min(cols, round(width * scale / cell_w))),
            max(1, min(rows, round(height * scale / cell_h))))


class ImageView(Widget):
    """An encoded image scaled to the view, its caption above it and its step below."""

    DEFAULT_CSS = """
    ImageView { layout: vertical; height: 1fr; }
    ImageView > #image-caption { height: auto; max-height: 3; }
    ImageView > #image-canvas { height: 1fr; align: center middle; }
    ImageView #image-empty { width: auto; color: $text-muted; }
    ImageView > #image-step { height: 1; color: $text-muted; }
    ImageView .image-picture { width: 1; height: 1; }
    """

    EMPTY = "no image"

    def __init__(self, protocol: str | None = None, *, cell_size: tuple[int, int] | None = None,
                 **kwargs: Any) -> None:
        """``protocol``: 'kitty', 'sixel' or 'halfcell' (default: what the terminal speaks).
        ``cell_size``: a cell's size in pixels (default: the terminal's; tests fix it)."""
        super().__init__(**kwargs)
        self.protocol = protocol or detect_protocol()
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"image protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
        if cell_size is None:
            width, height = get_cell_size()
            cell_size = (width, height)
        self.cell_size = cell_size
        self.image: EncodedImage | None = None
        self.step: int | None = None
        self._shown: tuple[int, int] | None = None  # (columns, rows) drawn last
        # the last images drawn, ready to show again (a slider going back and forth)
        self._drawings: OrderedDict[tuple[bytes, int, int], Any] = OrderedDict()

    def compose(self) -> ComposeResult:
        yield Static(id="image-caption", markup=False)
        with Container(id="image-canvas"):
            yield _WIDGETS[self.protocol](classes="image-picture")
            yield Static(self.EMPTY, id="image-empty", markup=False)
        yield Static(id="image-step", markup=False)

    def show(self, image: EncodedImage | None, *, step: int | None = None) -> None:
        """Show ``image`` (None: nothing) logged at ``step``. A 512x512 PNG is decoded and
        scaled here, in a few ms; the last ``CACHED_DRAWINGS`` drawn are kept."""
        self.image, self.step, self._shown = image, step, None
        caption = self.query_one("#image-caption", Static)
        caption.update(literal(image.caption if image is not None and image.caption else ""))
        caption.display = bool(image is not None and image.caption)
        self.query_one("#image-step", Static).update(self._step_line(image))
        self._draw()

    def _step_line(self, image: EncodedImage | None) -> Text:
        if image is None:
            return literal("" if self.step is None else f"step {self.step}")
        parts = [] if self.step is None else [f"step {self.step}"]
        parts.append(f"{image.width}x{image.height} {image.format.upper()}")
        return literal("  ".join(parts))

    def on_resize(self) -> None:
        self.call_after_refresh(self._draw)

    def _draw(self) -> None:
        """Fit the image to the canvas and hand its drawing to the picture widget."""
        image = self.image
        if image is None:
            self._say(self.EMPTY)
            return
        canvas = self.query_one("#image-canvas").content_size
        cols, rows = fit(image.width, image.height, canvas.width, canvas.height, self.cell_size)
        if self.protocol == "kitty":
            cols, rows = min(cols, _TGP_MAX_CELLS), min(rows, _TGP_MAX_CELLS)
        if cols < 1 or rows < 1 or (cols, rows) == self._shown:
            return
        key = (image.data, cols, rows)
        drawing = self._drawings.get(key)
        if drawing is None:
            try:
                pixels = decode(image)
                if pixels.size != (image.width, image.height):
                    raise ImageError("image", f"it declares {image.width}x{image.height} pixels "
                                     f"but holds {pixels.width}x{pixels.height}")
            except ImageError as exc:
                self._say(f"cannot show this image: {exc.reason}")
                return
            drawing = self._drawing(pixels, cols, rows)
            self._drawings[key] = drawing
            if len(self._drawings) > CACHED_DRAWINGS:
                self._drawings.popitem(last=False)
        else:
            self._drawings.move_to_end(key)
        self._shown = (cols, rows)
        self.query_one("#image-empty").display = False
        picture = self.query_one(".image-picture")
        picture.display = True
        picture.styles.width, picture.styles.height = cols, rows
        if isinstance(picture, HalfBlocks):
            picture.set_strips(drawing)
        else:
            picture.image = drawing  # type: ignore[attr-defined]  # textual-image takes PIL

    def _say(self, message: str) -> None:
        """Show ``message`` where the image goes, and no image."""
        empty = self.query_one("#image-empty", Static)
        empty.update(Text(message))
        empty.display = True
        picture = self.query_one(".image-picture")
        picture.display = False
        if isinstance(picture, HalfBlocks):
            picture.set_strips(None)
        else:
            picture.image = None  # type: ignore[attr-defined]

    def _drawing(self, pixels: Any, cols: int, rows: int) -> Any:
        """What the picture widget draws ``cols`` x ``rows`` cells from: half-block strips, or
        for Kitty and Sixel the image at the cells' own pixel size."""
        if self.protocol != "halfcell":
            return _resized(pixels, (cols * self.cell_size[0], rows * self.cell_size[1]))
        image = _resized(pixels, (cols, rows * 2))  # two pixels a cell
        picture = self.query_one(".image-picture")
        if not isinstance(picture, HalfBlocks):  # textual-image's half blocks (benchmarks)
            return image
        if image.mode in ("RGBA", "LA") or "transparency" in image.info:
            # transparent pixels show the view's background
            background = self.background_colors[1]
            under = PILImage.new("RGBA", image.size, (background.r, background.g, background.b, 255))
            image = PILImage.alpha_composite(under, image.convert("RGBA"))
        if image.mode != "RGB":
            image = image.convert("RGB")
        return picture.strips(np.asarray(image))


def _resized(image: Any, size: tuple[int, int]) -> Any:
    """``image`` at ``size``: down with Lanczos (after a cheap box reduction), up with nearest
    neighbours (each logged pixel a sharp block)."""
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "A" in image.mode or "transparency" in image.info
                              else "RGB")
    if size == image.size:
        return image
    if size[0] < image.width or size[1] < image.height:
        return image.resize(size, PILImage.Resampling.LANCZOS, reducing_gap=3.0)
    return image.resize(size, PILImage.Resampling.NEAREST)
