"""Provides the export dialog: selected runs to a TensorBoard logdir, with progress."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, ProgressBar, Static

from ...format import clean
from .base import one_line

if TYPE_CHECKING:
    from ..app import TrackerApp

DEFAULT_DIR = "tensorboard"


class ExportScreen(ModalScreen[None]):
    """Ask for a folder, export the runs there in a thread worker and show progress."""

    BINDINGS = [Binding("escape", "close", "Close")]

    class Progressed(Message):
        """One more run exported."""

        def __init__(self, done: int, total: int, name: str) -> None:
            super().__init__()
            self.done, self.total, self.name = done, total, name

    class Finished(Message):
        """The export ended: ``text`` says what it wrote or why it failed."""

        def __init__(self, text: str, ok: bool) -> None:
            super().__init__()
            self.text, self.ok = text, ok

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__()
        self.run_ids = run_ids
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(f"Export {len(self.run_ids)} run(s) to a TensorBoard logdir"),
                        classes="question")
            yield Input(str(Path.cwd() / DEFAULT_DIR), id="export-dir")
            yield ProgressBar(total=len(self.run_ids), show_eta=False, id="export-progress")
            yield Static(Text("enter starts, escape closes", style="dim"), id="export-status")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.running or not event.value.strip():
            return
        self.running = True
        event.input.disabled = True
        self.query_one("#export-status", Static).update(Text("exporting…"))
        self.export(Path(event.value.strip()).expanduser())

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def export(self, out: Path) -> None:
        from ...errors import TrackerError
        from ...tensorboard.export import export_tensorboard

        app = cast("TrackerApp", self.app)
        try:
            summary = export_tensorboard(
                out, runs=self.run_ids, db=app.db_path,
                progress=lambda done, total, name: self.post_message(
                    self.Progressed(done, total, name)))
        except (TrackerError, OSError, ValueError) as exc:
            self.post_message(self.Finished(one_line(exc), ok=False))
            return
        self.post_message(self.Finished(
            f"exported {summary.runs} run(s), {summary.scalars} scalars to {out}\n"
            f"view: tensorboard --logdir {out}", ok=True))

    def on_export_screen_progressed(self, message: Progressed) -> None:
        self.query_one(ProgressBar).update(total=message.total, progress=message.done)
        self.query_one("#export-status", Static).update(
            Text(f"{message.done}/{message.total}  {clean(message.name)}"))

    def on_export_screen_finished(self, message: Finished) -> None:
        self.running = False
        self.query_one("#export-status", Static).update(
            Text(clean(message.text, multiline=True), style="" if message.ok else "bold red"))
        if not message.ok:
            self.notify(message.text, severity="error", markup=False)
            self.query_one("#export-dir", Input).disabled = False

    def action_close(self) -> None:
        self.dismiss(None)
