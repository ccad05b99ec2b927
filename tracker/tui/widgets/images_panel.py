"""Provides the images panel: image keys on the left, a step slider, and one image per run.

The run screen's Images tab shows one run; the compare screen's shows the selected runs side by
side, each at the same key and step (a run without an image there says so). The panel reads
nothing itself: it asks with ``KeyChosen`` / ``StepChosen`` and the screen hands it what it read.
Left/right move the slider wherever the focus is in the panel (the key list takes up/down).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...format import clean
from ...records import EncodedImage
from .image_view import ImageView
from .step_slider import StepSlider

EMPTY = "no images logged"


class ImagesPanel(Horizontal):
    """Image keys, a step slider and an ``ImageView`` per run."""

    DEFAULT_CSS = """
    ImagesPanel { height: 1fr; }
    ImagesPanel > #image-body { width: 1fr; height: 1fr; padding: 0 1; }
    ImagesPanel #image-row { height: 1fr; }
    ImagesPanel .image-cell { width: 1fr; height: 1fr; }
    ImagesPanel .image-run { height: 1; }
    ImagesPanel #image-note { height: auto; color: $text-muted; }
    """
    BINDINGS = [
        Binding("left", "slide(-1)", "Step", tooltip="The previous logged step"),
        Binding("right", "slide(1)", "Step", show=False),
        Binding("[", "slide(-10)", "-10 steps", show=False),
        Binding("]", "slide(10)", "+10 steps", show=False),
    ]

    class KeyChosen(Message):
        """The user picked an image key: its steps and images are wanted."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class StepChosen(Message):
        """The slider moved: the images of ``key`` at ``step`` are wanted."""

        def __init__(self, key: str, step: int) -> None:
            super().__init__()
            self.key, self.step = key, step

    def __init__(self, runs: list[tuple[str, str]], *, protocol: str | None = None,
                 cell_size: tuple[int, int] | None = None, **kwargs: Any) -> None:
        """``runs``: (run id, name shown above its image) in the order shown."""
        super().__init__(**kwargs)
        self.runs = runs
        self.key = ""
        self._protocol, self._cell_size = protocol, cell_size

    def compose(self) -> ComposeResult:
        yield OptionList(id="image-keys", classes="side-list")
        with Vertical(id="image-body"):
            yield Static(id="image-note", markup=False)
            yield StepSlider(id="image-slider")
            with Horizontal(id="image-row"):
                for i, (_, name) in enumerate(self.runs):
                    with Vertical(classes="image-cell"):
                        if len(self.runs) > 1:
                            yield Static(Text(clean(name), style="bold"), classes="image-run")
                        yield ImageView(self._protocol, cell_size=self._cell_size,
                                        id=f"image-view-{i}")

    @property
    def slider(self) -> StepSlider:
        return self.query_one(StepSlider)

    def views(self) -> list[ImageView]:
        """The image views, one per run, in the order of ``runs``."""
        return [self.query_one(f"#image-view-{i}", ImageView) for i in range(len(self.runs))]

    def set_keys(self, keys: list[str]) -> None:
        """The image keys (of any of the runs); the first is chosen."""
        options = self.query_one("#image-keys", OptionList)
        options.clear_options()
        options.add_options([Option(Text(clean(k)), id=k) for k in keys])
        note = self.query_one("#image-note", Static)
        note.update(Text("") if keys else Text(EMPTY, style="dim"))
        note.display = not keys
        self.slider.display = bool(keys)
        if keys:
            options.highlighted = 0
            self._choose(keys[0])

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id and event.option.id != self.key:
            self._choose(event.option.id)

    def _choose(self, key: str) -> None:
        self.key = key
        self.post_message(self.KeyChosen(key))

    def show_key(self, key: str, steps: list[int],
                 images: dict[str, EncodedImage | None]) -> None:
        """``key``'s steps (of all the runs, ascending) with the slider at the last one, and
        the runs' ``images`` there."""
        self.slider.set_steps(steps)
        self.show_step(self.slider.step, images)

    def show_step(self, step: int | None, images: dict[str, EncodedImage | None]) -> None:
        """Each run's image at ``step`` (None: that run has none there)."""
        for (run_id, _), view in zip(self.runs, self.views()):
            view.show(images.get(run_id), step=step)

    def on_step_slider_changed(self, event: StepSlider.Changed) -> None:
        event.stop()
        if self.key:
            self.post_message(self.StepChosen(self.key, event.step))

    def action_slide(self, delta: int) -> None:
        self.slider.action_move(delta)
