"""Provides half-block drawing: an RGB raster as '▀' cells, two pixels a cell, through the line API.

The top pixel is the cell's foreground colour and the bottom one its background, which every
truecolor terminal shows (tmux and SSH included). textual-image draws the same cells through Rich
renderables, a ``Style`` built per cell and every line cropped again by Rich: stepping through
512x512 images in a 120x40 terminal took 60 ms of CPU a step against 34 ms here
(benchmarks/bench_images.py; the target is <= 50 ms). Here the strips are built once per image
from numpy: runs of equal cells share one segment, and styles are reused across images.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.color import Color, ColorType
from rich.color_triplet import ColorTriplet
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

UPPER_HALF = "\u2580"
STYLE_CACHE_SIZE = 1 << 16  # (top, bottom) colour pairs kept between images
# Colours are drawn to 6 bits a channel (64 levels, 0 and 255 kept; at most 2/255 off): no
# terminal cell shows the difference, and images (consecutive steps above all) then share most
# of their colour and style objects, which are what drawing costs. Measured on 512x512 samples
# in a 120x40 terminal (a busy machine): 17 -> 7 ms to build the strips, 40 -> 29 ms of CPU a
# step in all.
LEVELS = 64
_ROUND = np.round(np.round(np.arange(256) * (LEVELS - 1) / 255) * 255 / (LEVELS - 1)).astype(np.uint8)


class StyleCache:
    """Cell styles by packed (top, bottom) colour and colours by RGB, kept between images
    (consecutive steps share most of them); each is cleared when full."""

    def __init__(self, size: int = STYLE_CACHE_SIZE) -> None:
        self.size = size
        self.styles: dict[int, Style] = {}
        self.colors: dict[int, Color] = {}

    def styles_for(self, keys: list[int]) -> list[Style]:
        """The style of each distinct packed key (built for the ones not met before)."""
        styles, colors = self.styles, self.colors
        if len(styles) + len(keys) > self.size:
            styles.clear()
        if len(colors) + 2 * len(keys) > self.size:
            colors.clear()
        out = []
        for key in keys:
            style = styles.get(key)
            if style is None:
                top, bottom = key >> 24, key & 0xFFFFFF
                style = styles[key] = Style.from_color(
                    colors.get(top) or self._color(top), colors.get(bottom) or self._color(bottom))
            out.append(style)
        return out

    def _color(self, rgb: int) -> Color:
        triplet = ColorTriplet(rgb >> 16, (rgb >> 8) & 0xFF, rgb & 0xFF)
        color = self.colors[rgb] = Color(f"#{rgb:06x}", ColorType.TRUECOLOR, None, triplet)
        return color


def half_block_strips(pixels: np.ndarray, cache: StyleCache) -> list[Strip]:
    """Strips of '▀' cells for an RGB uint8 raster of shape (2 * rows, columns, 3)."""
    if pixels.shape[0] % 2:
        pixels = np.concatenate([pixels, pixels[-1:]], axis=0)  # an odd last row: repeat it
    pixels = _ROUND[pixels]
    packed = (pixels[..., 0].astype(np.int64) << 16) | (pixels[..., 1].astype(np.int64) << 8) \
        | pixels[..., 2]
    keys = (packed[0::2] << 24) | packed[1::2]  # (rows, columns): top and bottom of each cell
    rows, width = keys.shape
    # runs of equal cells in a row become one segment (flat areas of plots and masks)
    change = np.ones(keys.shape, dtype=bool)
    change[:, 1:] = keys[:, 1:] != keys[:, :-1]
    row_of, col_of = np.nonzero(change)
    distinct, index = np.unique(keys[row_of, col_of], return_inverse=True)
    styles = cache.styles_for(distinct.tolist())
    ends = np.append(col_of[1:], width)
    ends[np.flatnonzero(np.diff(row_of))] = width  # a row's last run ends at the edge
    lengths = (ends - col_of).tolist()
    bounds = np.searchsorted(row_of, np.arange(rows + 1)).tolist()
    picked = [styles[i] for i in index.tolist()]
    strips = []
    for r in range(rows):
        lo, hi = bounds[r], bounds[r + 1]
        segments = [Segment(UPPER_HALF * n, style)
                    for n, style in zip(lengths[lo:hi], picked[lo:hi])]
        strips.append(Strip(segments, cell_length=width))
    return strips


class HalfBlocks(Widget):
    """A raster drawn as half blocks; ``pixels`` set it (None: blank)."""

    DEFAULT_CSS = "HalfBlocks { width: auto; height: auto; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._strips: list[Strip] = []
        self._cache = StyleCache()

    def strips(self, pixels: np.ndarray) -> list[Strip]:
        """The strips that draw ``pixels`` (RGB uint8, (2 * rows, columns, 3)); not shown yet."""
        return half_block_strips(pixels, self._cache)

    def set_strips(self, strips: list[Strip] | None) -> None:
        """Show strips made by ``strips`` (None: blank)."""
        self._strips = strips or []
        self.refresh()

    def set_pixels(self, pixels: np.ndarray | None) -> None:
        """Draw ``pixels``: RGB uint8 of shape (2 * rows, columns, 3), one cell a pixel pair."""
        self.set_strips(None if pixels is None else self.strips(pixels))

    def render_line(self, y: int) -> Strip:
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width)
