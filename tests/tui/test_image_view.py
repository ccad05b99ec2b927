"""The image view: half blocks that reproduce the pixels, fitting, captions shown literally, protocols."""

from __future__ import annotations

import io
import sys
from typing import Any

import numpy as np
import pytest
from rich.segment import Segment
from textual.app import App, ComposeResult
from textual.widgets import Static

from tracker.images import EncodedImage, encode, prepare
from tracker.tui.widgets import image_view
from tracker.tui.widgets.half_blocks import LEVELS, HalfBlocks
from tracker.tui.widgets.image_view import ImageView, detect_protocol, fit

CELL = (10, 20)  # a cell's pixels, fixed: the terminal's own would change the layout


def _image(array: np.ndarray, caption: str | None = None) -> EncodedImage:
    return encode(prepare("samples", array, caption=caption))


def _synthetic() -> np.ndarray:
    """A small image with distinct quarters and a gradient band (12 wide, 8 high)."""
    image = np.zeros((8, 12, 3), np.uint8)
    image[:4, :6] = (220, 40, 40)
    image[:4, 6:] = (40, 200, 60)
    image[4:, :6] = (50, 80, 230)
    image[4:, 6:] = np.linspace(0, 255, 6, dtype=np.uint8)[None, :, None]
    return image


class ViewApp(App[None]):
    def __init__(self, image: EncodedImage | None, step: int | None = None,
                 protocol: str = "halfcell") -> None:
        super().__init__()
        self.image, self.step, self.protocol = image, step, protocol

    def compose(self) -> ComposeResult:
        yield ImageView(self.protocol, cell_size=CELL)

    def on_mount(self) -> None:
        self.query_one(ImageView).show(self.image, step=self.step)


def _drawn(value: int) -> int:
    """A channel as half blocks draw it: the nearest of LEVELS levels from 0 to 255."""
    return round(round(int(value) * (LEVELS - 1) / 255) * 255 / (LEVELS - 1))


def _cells(widget: HalfBlocks) -> list[list[tuple[tuple[int, ...], tuple[int, ...]]]]:
    """(top, bottom) colour of every drawn cell, row by row."""
    rows = []
    for y in range(widget.size.height):
        row = []
        for segment in widget.render_line(y):
            assert isinstance(segment, Segment)
            for char in segment.text:
                assert char == "\u2580"
                row.append((tuple(segment.style.color.triplet), tuple(segment.style.bgcolor.triplet)))
        rows.append(row)
    return rows


def test_half_block_snapshot_with_a_literal_caption_and_step(snap_compare: Any) -> None:
    image = _image(_synthetic(), caption="[b]epoch 3[/b] \x1b[31mred?")
    assert snap_compare(ViewApp(image, step=42), terminal_size=(40, 14))


async def test_each_cell_is_two_pixels_of_the_image_when_it_fits_exactly() -> None:
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    # 20 columns x 10 rows of 10x20-pixel cells hold a 20x20 image at exactly 2 pixels a cell
    app = ViewApp(_image(pixels), step=7)
    async with app.run_test(size=(20, 12)) as pilot:  # caption hidden, 1 line of step
        await pilot.pause()
        picture = app.query_one(HalfBlocks)
        assert (picture.size.width, picture.size.height) == (20, 10)
        cells = _cells(picture)
        drawn = np.vectorize(_drawn)(pixels)
        expected = [[(tuple(drawn[2 * r, c]), tuple(drawn[2 * r + 1, c])) for c in range(20)]
                    for r in range(10)]
        assert cells == expected
        assert np.abs(drawn - pixels.astype(int)).max() <= 2  # 6 bits a channel, ends kept
        assert str(app.query_one("#image-step", Static).render()) == "step 7  20x20 PNG"


async def test_the_image_is_fitted_with_its_aspect_and_refitted_on_resize() -> None:
    app = ViewApp(_image(np.zeros((50, 200, 3), np.uint8)), step=1)  # 4:1
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        picture = app.query_one(HalfBlocks)
        # 60 columns of 10 px = 600 px wide -> 150 px high = 7.5 rows of 20 px
        assert (picture.size.width, picture.size.height) == (60, 8)
        await pilot.resize_terminal(30, 20)
        await pilot.pause()
        await pilot.pause()
        assert (picture.size.width, picture.size.height) == (30, 4)


def test_fit_keeps_aspect_and_bounds() -> None:
    assert fit(100, 100, 40, 40, (10, 20)) == (40, 20)  # square pixels: rows are twice as tall
    assert fit(1000, 10, 40, 40, (10, 20)) == (40, 1)  # never less than one row
    assert fit(10, 1000, 40, 10, (10, 20)) == (1, 10)
    assert fit(0, 10, 40, 10, (10, 20)) == (0, 0) and fit(10, 10, 0, 10, (10, 20)) == (0, 0)


async def test_small_images_grow_as_sharp_blocks() -> None:
    checker = np.array([[0, 255], [255, 0]], np.uint8)
    app = ViewApp(_image(checker))
    async with app.run_test(size=(8, 5)) as pilot:
        await pilot.pause()
        cells = _cells(app.query_one(HalfBlocks))
        # 2x2 pixels into 8 columns x 4 rows (8x8 half-block pixels): 4x4 blocks, no blur
        values = {colour for row in cells for cell in row for colour in cell}
        assert values == {(0, 0, 0), (255, 255, 255)}
        assert cells[0][0] == ((0, 0, 0), (0, 0, 0)) and cells[0][7] == ((255,) * 3, (255,) * 3)


async def test_transparent_pixels_show_the_background() -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, :] = (255, 0, 0, 255)  # opaque red on top, transparent below
    app = ViewApp(_image(rgba))
    async with app.run_test(size=(2, 3)) as pilot:
        await pilot.pause()
        view = app.query_one(ImageView)
        background = view.background_colors[1]
        ((top, bottom), _) = _cells(app.query_one(HalfBlocks))[0]
        assert top == (255, 0, 0)
        assert bottom == (_drawn(background.r), _drawn(background.g), _drawn(background.b))


async def test_no_image_and_a_damaged_image_say_so_without_drawing() -> None:
    app = ViewApp(None)
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        view = app.query_one(ImageView)
        empty = app.query_one("#image-empty", Static)
        assert empty.display and str(empty.render()) == "no image"
        assert not app.query_one(HalfBlocks).display
        view.show(EncodedImage("png", b"\x89PNG\r\n\x1a\n broken", 4, 4, "c"), step=3)
        await pilot.pause()
        assert str(empty.render()).startswith("cannot show this image: the data ")
        assert str(app.query_one("#image-step", Static).render()) == "step 3  4x4 PNG"
        view.show(_image(_synthetic()), step=4)
        await pilot.pause()
        assert not empty.display and app.query_one(HalfBlocks).display


def test_the_protocol_comes_from_the_terminal_or_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(image_view.PROTOCOL_VARIABLE, raising=False)
    assert detect_protocol() == "halfcell"  # pytest's stdout is no terminal: half blocks
    monkeypatch.setenv(image_view.PROTOCOL_VARIABLE, "Sixel")
    assert detect_protocol() == "sixel"
    monkeypatch.setenv(image_view.PROTOCOL_VARIABLE, "nonsense")
    assert detect_protocol() == "halfcell"
    with pytest.raises(ValueError, match="image protocol 'svg': use one of kitty, sixel, halfcell"):
        ImageView("svg")


async def test_kitty_draws_through_textual_image_at_the_cells_pixel_size(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "__stdout__", terminal)  # where the Kitty protocol writes
    app = ViewApp(_image(_synthetic()), step=1, protocol="kitty")
    async with app.run_test(size=(24, 12)) as pilot:
        await pilot.pause()
        from textual_image.widget import TGPImage

        picture = app.query_one(TGPImage)
        assert picture.image.size == (picture.size.width * CELL[0], picture.size.height * CELL[1])
        assert picture.size.width == 24  # 12x8 at 10x20 px cells: width-bound
    assert "\x1b_G" in terminal.getvalue()  # image data went to the terminal


async def test_stepping_back_reuses_the_drawing_and_a_wrong_declared_size_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[int] = []
    real_decode = image_view.decode
    monkeypatch.setattr(image_view, "decode", lambda image: decoded.append(image.width) or real_decode(image))
    first, second = _image(np.zeros((4, 4, 3), np.uint8)), _image(np.full((4, 5, 3), 85, np.uint8))
    app = ViewApp(first)
    async with app.run_test(size=(30, 12)) as pilot:
        await pilot.pause()
        view = app.query_one(ImageView)
        for image in (second, first, second):
            view.show(image, step=1)
            await pilot.pause()
        assert decoded == [4, 5]  # each decoded and drawn once
        cells = _cells(app.query_one(HalfBlocks))
        assert cells[0][0] == ((85,) * 3, (85,) * 3)  # the second image is the one shown
        view.show(EncodedImage("png", first.data, 9, 4), step=2)
        await pilot.pause()
        empty = app.query_one("#image-empty", Static)
        assert empty.display
        assert str(empty.render()) == "cannot show this image: it declares 9x4 pixels but holds 4x4"
