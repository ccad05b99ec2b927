"""The Images tab (run and compare screens), driven with keys on a real store: the slider steps
through the logged steps, the stored image is the one drawn, captions and keys are shown literally."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.demo import STEPS
from tracker.tui.app import make_app
from tracker.tui.screens.compare import CompareScreen
from tracker.tui.widgets.half_blocks import HalfBlocks
from tracker.tui.widgets.image_view import ImageView
from tracker.tui.widgets.images_panel import ImagesPanel
from tracker.tui.widgets.step_slider import StepSlider

SIZE = (120, 36)
DEMO_STEPS = list(range(0, STEPS, 100))  # the demo logs 'samples' every 100 steps


@pytest.fixture
def db_path(any_store: Path) -> Path:
    """The tab's tests on a store of either backend (SQLite and PostgreSQL)."""
    return any_store


def _stored(db: Path, name: str, key: str, step: int) -> tracker.records.EncodedImage:
    with tracker.open_store(db) as store:
        # by name exactly: a name as short as "a" is also the prefix of some random run ids
        (run_id,) = [r.id for r in store.runs() if r.name == name]
        image = store.image(run_id, key, step)
    assert image is not None
    return image


def _shown(panel: ImagesPanel, step: int, count: int = 1) -> bool:
    views = panel.views()
    return len(views) == count and all(v.step == step and v.image is not None for v in views)


async def test_the_slider_steps_through_the_images_of_a_run(demo_db: Path, ui) -> None:
    app = make_app(demo_db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ui.open_run(pilot, "baseline")
        await pilot.press("9")
        panel = screen.query_one(ImagesPanel)
        await ui.wait_for(pilot, lambda: _shown(panel, DEMO_STEPS[-1]), "the last image")
        slider = panel.query_one(StepSlider)
        assert slider.steps == DEMO_STEPS and slider.step == DEMO_STEPS[-1]
        view = panel.query_one(ImageView)
        assert view.image == _stored(demo_db, "baseline", "samples", 300)  # the stored bytes
        assert "epoch 3" in ui.screen_text(app) and "step 300  32x24 PNG" in ui.screen_text(app)
        picture = view.query_one(HalfBlocks)
        await ui.wait_for(pilot, lambda: picture.display and picture.size.width > 1, "drawn")
        drawn_last = [picture.render_line(y) for y in range(picture.size.height)]

        await pilot.press("left")  # one logged step back (not one step: the steps logged)
        await ui.wait_for(pilot, lambda: _shown(panel, 200), "step 200")
        assert view.image == _stored(demo_db, "baseline", "samples", 200)
        assert "epoch 2" in ui.screen_text(app) and "epoch 3" not in ui.screen_text(app)
        assert [picture.render_line(y) for y in range(picture.size.height)] != drawn_last

        await pilot.press("[")  # ten back: clamped at the first
        await ui.wait_for(pilot, lambda: _shown(panel, 0), "step 0")
        assert slider.index == 0 and "step 0  1/4" in ui.screen_text(app)
        slider.focus()
        await pilot.press("end")
        await ui.wait_for(pilot, lambda: _shown(panel, 300), "the last step again")
        await pilot.click(StepSlider, offset=(0, 0))  # the track's left end: the first step
        await ui.wait_for(pilot, lambda: _shown(panel, 0), "the first step, clicked")


async def test_captions_and_keys_are_shown_literally(db_path: Path, ui) -> None:
    db = db_path
    with tracker.init("p", "hostile", db=db) as run:
        run.log_image("[b]key[/b]", np.zeros((4, 4), np.uint8), step=1,
                      caption="[red]not red[/red]\x1b]0;title\x07")
    app = make_app(db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ui.open_run(pilot, "hostile")
        await pilot.press("9")
        panel = screen.query_one(ImagesPanel)
        await ui.wait_for(pilot, lambda: _shown(panel, 1), "the image")
        text = ui.screen_text(app)
        assert "[b]key[/b]" in text
        assert "[red]not red[/red]\ufffd]0;title\ufffd" in text
        assert "step 1  4x4 PNG" in text


async def test_a_run_without_images_says_so(db_path: Path, ui) -> None:
    db = db_path
    with tracker.init("p", "plain", db=db) as run:
        run.log({"loss": 1.0})
    app = make_app(db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ui.open_run(pilot, "plain")
        await pilot.press("9")
        await ui.wait_for(pilot, lambda: "no images logged" in ui.screen_text(app), "the note")
        assert not screen.query_one(StepSlider).display


async def test_compare_shows_the_same_key_and_step_side_by_side(db_path: Path, ui) -> None:
    db = db_path
    grey = {"a": 40, "b": 200}
    for name, level in grey.items():
        with tracker.init("p", name, db=db) as run:
            for step in (10, 20):
                run.log_image("recon", np.full((6, 6), level + step, np.uint8), step=step,
                              caption=f"{name} at {step}")
            if name == "a":  # only a has step 30: b says it has none there
                run.log_image("recon", np.full((6, 6), 0, np.uint8), step=30)
    app = make_app(db, live=False)
    async with app.run_test(size=SIZE) as pilot:
        table = await ui.runs_ready(pilot)
        await ui.wait_for(pilot, lambda: len(ui.names(table)) == 2, "both runs")
        await pilot.press("s", "s")  # by name: a, b
        table.move_cursor(row=0)
        await pilot.press("space", "space", "c")  # a, then b (space selects and moves down)
        await ui.wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), "compare")
        await pilot.press("4")
        panel = app.screen.query_one(ImagesPanel)
        views = panel.views()
        await ui.wait_for(pilot, lambda: views[0].step == 30 and views[0].image is not None,
                          "the last step")
        assert views[1].step == 30 and views[1].image is None
        assert "no image" in ui.screen_text(app)
        await pilot.press("left")
        await ui.wait_for(pilot, lambda: _shown(panel, 20, 2), "step 20 of both")
        assert [v.image.caption for v in views] == ["a at 20", "b at 20"]
        for view, name in zip(views, ("a", "b")):
            assert view.image == _stored(db, name, "recon", 20)
        text = ui.screen_text(app)
        assert text.index("a at 20") < text.index("b at 20")  # side by side, in selection order
