"""Provides the step slider: one line that picks a step among the logged ones, like TensorBoard's.

The track spans the steps in order (evenly, one position per logged step, as TensorBoard's image
slider does); left/right move one step, page up/down a tenth of them, home/end to the first and
last; a click on the track jumps there. Each move posts ``StepSlider.Changed``.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

THUMB, TRACK, DONE = "●", "─", "━"


class StepSlider(Widget, can_focus=True):
    """A slider over a list of steps; ``step`` is the chosen one (None when there are none)."""

    DEFAULT_CSS = """
    StepSlider { height: 1; width: 1fr; }
    StepSlider:focus { text-style: bold; }
    """
    BINDINGS = [
        Binding("left", "move(-1)", "Step -1", show=False),
        Binding("right", "move(1)", "Step +1", show=False),
        Binding("pageup", "page(-1)", "Steps -10%", show=False),
        Binding("pagedown", "page(1)", "Steps +10%", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]

    class Changed(Message):
        """The slider moved to ``step`` (its ``index`` among the steps)."""

        def __init__(self, slider: StepSlider, step: int, index: int) -> None:
            super().__init__()
            self.slider, self.step, self.index = slider, step, index

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.steps: list[int] = []
        self.index = 0

    @property
    def step(self) -> int | None:
        """The chosen step."""
        return self.steps[self.index] if self.steps else None

    def set_steps(self, steps: list[int], index: int = -1) -> None:
        """The steps to choose among (ascending) and the one chosen (default: the last); posts
        no message (the caller shows that step itself)."""
        self.steps = list(steps)
        self.index = index % len(steps) if steps else 0
        self.refresh()

    def move_to(self, index: int) -> None:
        """Choose the step at ``index`` (clamped) and say so, if it changed."""
        if not self.steps:
            return
        index = max(0, min(len(self.steps) - 1, index))
        if index == self.index:
            return
        self.index = index
        self.refresh()
        self.post_message(self.Changed(self, self.steps[index], index))

    def action_move(self, delta: int) -> None:
        self.move_to(self.index + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.index + direction * max(1, len(self.steps) // 10))

    def action_jump(self, index: int) -> None:
        self.move_to(index % len(self.steps) if self.steps else 0)

    def _label(self) -> str:
        if not self.steps:
            return "no steps"
        return f" step {self.steps[self.index]}  {self.index + 1}/{len(self.steps)}"

    def _track_width(self) -> int:
        return max(3, self.size.width - len(self._label()) - 1)

    def render(self) -> Text:
        label = self._label()
        if not self.steps:
            return Text(label, style="dim")
        width = self._track_width()
        thumb = 0 if len(self.steps) == 1 else round(self.index * (width - 1) / (len(self.steps) - 1))
        text = Text(no_wrap=True, overflow="crop")
        text.append(DONE * thumb, style="bold")
        text.append(THUMB, style="bold")
        text.append(TRACK * (width - thumb - 1), style="dim")
        text.append(" " + label)
        return text

    def on_click(self, event: events.Click) -> None:
        width = self._track_width()
        if not self.steps or event.x >= width:
            return
        self.move_to(round(event.x * (len(self.steps) - 1) / max(1, width - 1)))
