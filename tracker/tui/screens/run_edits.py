"""Provides the runs screen's edits: rename, tags, note, delete (confirmed) and export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work

from ..messages import RunsEdited
from .dialogs import ConfirmScreen, PromptScreen

if TYPE_CHECKING:
    from ..widgets.runs_table import RunsTable


class RunEditsMixin:
    """Edits of the selected runs (or the run under the cursor); each write runs in a worker.

    Mixed into the runs screen, which provides ``table``, ``targets()`` and ``load_runs()``.
    """

    if TYPE_CHECKING:
        @property
        def table(self) -> RunsTable: ...

    app: Any
    tracker: Any
    targets: Any
    load_runs: Any
    notify: Any
    post_message: Any

    def _prompt_edit(self, title: str, value: str, edit: str) -> None:
        ids = self.targets()
        if not ids:
            return

        def done(text: str | None) -> None:
            if text is not None:
                self.edit_runs(edit, ids, text)

        self.app.push_screen(PromptScreen(title, value), done)

    def action_rename(self) -> None:
        key = self.table.cursor_row_key()
        if key:
            run = self.table.runs_by_id[key]
            self.app.push_screen(PromptScreen("Rename run", run.name),
                                 lambda text: text and self.edit_runs("rename", [key], text))

    def action_tags(self) -> None:
        ids = self.targets()
        value = ", ".join(self.table.runs_by_id[ids[0]].tags) if len(ids) == 1 else ""
        self._prompt_edit(f"Tags for {len(ids)} run(s), comma-separated", value, "tags")

    def action_notes(self) -> None:
        ids = self.targets()
        value = self.table.runs_by_id[ids[0]].notes or "" if len(ids) == 1 else ""
        self._prompt_edit(f"Note for {len(ids)} run(s)", value, "notes")

    def action_export(self) -> None:
        from .export import ExportScreen

        ids = self.targets()
        if ids:
            self.app.push_screen(ExportScreen(ids))

    def action_delete(self) -> None:
        ids = self.targets()
        if not ids:
            return
        names = ", ".join(self.table.runs_by_id[i].name for i in ids[:5])
        more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
        question = f"Delete {len(ids)} run(s): {names}{more}? This cannot be undone."
        self.app.push_screen(ConfirmScreen(question),
                             lambda yes: yes and self.edit_runs("delete", ids, ""))

    @work(thread=True, group="edit", exit_on_error=False)
    def edit_runs(self, edit: str, run_ids: list[str], text: str) -> None:
        with self.tracker.open_store() as store:
            if edit == "rename":
                store.rename_run(run_ids[0], text)
            elif edit == "tags":
                tags = [t.strip() for t in text.split(",") if t.strip()]
                for run_id in run_ids:
                    store.set_tags(run_id, tags)
            elif edit == "notes":
                for run_id in run_ids:
                    store.set_notes(run_id, text or None)
            elif edit == "delete":
                store.delete_runs(run_ids)
        self.post_message(RunsEdited(f"{edit}: {len(run_ids)} run(s)"))

    def on_runs_edited(self, message: RunsEdited) -> None:
        self.notify(message.summary, markup=False)
        self.load_runs()

