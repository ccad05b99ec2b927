"""Provides the base screen: worker failures become one-line error notifications."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from ..app import TrackerApp


def one_line(exc: BaseException | None) -> str:
    """The first line of an error's message (never a traceback)."""
    text = str(exc or "").strip().splitlines()
    return text[0] if text else type(exc).__name__


class BaseScreen(Screen):
    """A screen whose read workers report failures as notifications, not crashes."""

    @property
    def tracker(self) -> TrackerApp:
        """The app, typed."""
        return cast("TrackerApp", self.app)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(one_line(event.worker.error), severity="error", timeout=6)
