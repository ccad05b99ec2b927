"""Provides the modal dialogs: confirm, a one-line prompt, and the help screen."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Static

from ..filters import HELP as FILTER_HELP


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


def _our_bindings(node: DOMNode) -> set[tuple[str, str]]:
    """(key, action) of the bindings that tracker's own classes declare on ``node`` (Textual's
    built-in ones, such as a table's page keys or ctrl+q, are left out: the footer never shows
    them either)."""
    out: set[tuple[str, str]] = set()
    for cls in type(node).__mro__:
        if not cls.__module__.startswith("tracker."):
            continue
        for binding in cls.__dict__.get("BINDINGS", []):
            if isinstance(binding, Binding):
                out.update((key.strip(), binding.action) for key in binding.key.split(","))
    return out


def help_sections(below: Screen) -> list[tuple[str, list[tuple[str, str]]]]:
    """The keys that work on ``below`` now, by where they come from: the screen, the focused
    widget and its panes, then the whole app; each action once, with all its keys."""
    app = below.app
    groups: dict[str, dict[tuple[int, str], tuple[list[str], str]]] = {}
    ours: dict[int, set[tuple[str, str]]] = {}
    for active in below.active_bindings.values():
        node, binding = active.node, active.binding
        if id(node) not in ours:
            ours[id(node)] = _our_bindings(node)
        if (binding.key, binding.action) not in ours[id(node)] or not binding.description:
            continue
        if binding.action in ("cursor_down", "cursor_up", "down", "up"):
            continue  # one "move" line below, not j Down / k Up
        section = ("Everywhere" if node is app else "This screen" if node is below
                   else f"In the {_widget_name(node)}")
        keys, text = groups.setdefault(section, {}).setdefault(
            (id(node), binding.action), ([], binding.tooltip or binding.description))
        label = binding.key_display or app.get_key_display(binding)
        if label not in keys:
            keys.append(label)
    order = ["This screen", *(s for s in groups if s.startswith("In the ")), "Everywhere"]
    sections = [(name, [(" / ".join(keys), text) for keys, text in groups[name].values()])
                for name in order if name in groups]
    general = [("↑ ↓  j k", "Move in lists, tables and trees"),
               ("tab / shift+tab", "Move the focus to the next / previous pane"),
               (app.get_key_display(Binding(app.COMMAND_PALETTE_BINDING, "")),
                "Command palette: every action by name")]
    if sections and sections[-1][0] == "Everywhere":
        sections[-1][1].extend(general)
    else:
        sections.append(("Everywhere", general))
    return sections


def _widget_name(node: DOMNode) -> str:
    names = {"RunsTable": "runs table", "LineChart": "chart", "MetricPicker": "metric picker",
             "ChartsPanel": "charts", "ProfileView": "profile", "GraphView": "graph",
             "TextView": "text view"}
    return names.get(type(node).__name__, type(node).__name__.lower())


class HelpScreen(ModalScreen[None]):
    """The keys that work on the screen below, and the filter language where there is a filter."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, below: Screen) -> None:
        super().__init__()
        from .runs import RunsScreen

        self.sections = help_sections(below)
        self.with_filter = isinstance(below, RunsScreen)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            for title, rows in self.sections:
                table = Table(box=None, show_header=False, pad_edge=False)
                table.add_column(style="bold", no_wrap=True, min_width=16)
                table.add_column()
                for keys, text in rows:
                    table.add_row(Text(keys), Text(text))
                yield Static(Text(title, style="bold underline"), classes="help-title")
                yield Static(table)
            if self.with_filter:
                yield Static(Text("Filter (/)", style="bold underline"), classes="help-title")
                yield Static(Text(FILTER_HELP))

    def action_close(self) -> None:
        self.dismiss(None)
