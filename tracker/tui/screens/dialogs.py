"""Provides the modal dialogs: confirm, a one-line prompt, and the help screen."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Static

from ..filters import __doc__ as FILTER_HELP


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with True only on an explicit yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.question), classes="question")
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PromptScreen(ModalScreen["str | None"]):
    """Ask for one line of text; dismisses with it on enter, None on escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.title_text), classes="question")
            yield Input(self.value, placeholder=self.placeholder, id="prompt")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """The keys of the screen below, the global keys and the filter language."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, below: Screen) -> None:
        super().__init__()
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        seen = set()
        # The screen's and the app's own keys first, then those of the focused widget.
        actives = sorted(below.active_bindings.values(),
                         key=lambda a: a.node is not below and a.node is not below.app)
        for active in actives:
            binding = active.binding
            if not binding.description or binding.description in seen:
                continue
            seen.add(binding.description)
            label = binding.key_display or self.app.get_key_display(binding)
            table.add_row(Text(label), Text(binding.description))
        for key, text in (("j / k", "Down / up in lists and tables"),
                          ("ctrl+p", "Command palette"), ("tab", "Next widget")):
            table.add_row(Text(key), Text(text))
        self.keys = table

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static(Text("Keys", style="bold"))
            yield Static(self.keys)
            yield Static(Text("\nFilter", style="bold"))
            yield Static(Text(" ".join((FILTER_HELP or "").split("\n\n")[0:2]).replace("\n", " ")))

    def action_close(self) -> None:
        self.dismiss(None)
