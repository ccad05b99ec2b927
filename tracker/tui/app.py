"""Provides the Textual app: bindings, stylesheet, themes and the first screen."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from ..format import clean
from ..paths import resolve_db_path
from ..read import Reader, open_store

DARK, LIGHT = "textual-dark", "textual-light"


class TrackerApp(App[None]):
    """Browse, filter, compare and live-tail the runs of one store."""

    CSS_PATH = "app.tcss"
    TITLE = "tracker"
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?",
                tooltip="Show the keys of this screen"),
        Binding("ctrl+t", "toggle_theme", "Theme", tooltip="Switch between dark and light"),
        Binding("q", "quit", "Quit", tooltip="Quit the app"),
    ]

    def __init__(
        self,
        db: str | os.PathLike[str] | None = None,
        *,
        live: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.db_path: Path = resolve_db_path(db)
        self.db_given = db is not None and str(db) != ""  # the empty-store hint names it then
        self.live = live  # snapshot tests turn the live timers off
        self.clock = clock
        self.sub_title = clean(self.db_path.name)

    def open_store(self) -> Reader:
        """A new connection for the calling thread (workers call this; the UI thread never does)."""
        return open_store(self.db_path)

    def on_mount(self) -> None:
        from .screens.runs import RunsScreen

        self.theme = DARK
        self._pin_console_size()
        # The modules and the app built so far live as long as the process: out of the
        # collector's full passes before the first read builds thousands of runs' objects.
        gc.freeze()
        self.push_screen(RunsScreen())
        # Everything built so far lives as long as the app: keep it out of the collector's
        # full passes, which otherwise pause a screen switch or a chart read now and then.
        self.call_after_refresh(gc.freeze)

    def on_resize(self) -> None:
        self._pin_console_size()

    def _pin_console_size(self) -> None:
        # Rich asks the terminal for its size (3 system calls) every time a cell is measured;
        # a 10k-run table measures 100k+ cells. Textual passes widths explicitly, so the console
        # only needs to know the current size.
        self.console.size = (self.size.width, self.size.height)

    def action_help(self) -> None:
        from .screens.dialogs import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.theme == DARK else DARK

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Toggle light/dark theme", "Switch the colour theme",
                            self.action_toggle_theme)
        commands = getattr(screen, "palette_commands", None)
        if commands is not None:
            yield from commands()


def make_app(
    db: str | os.PathLike[str] | None = None,
    *,
    live: bool = True,
    clock: Callable[[], float] = time.time,
) -> TrackerApp:
    """The app on a store: one factory for the CLI and the tests."""
    return TrackerApp(db, live=live, clock=clock)


def run_app(db: str | None) -> None:
    """Open the app on ``db`` (default $TRACKER_DB, else ./tracker.db) until the user quits."""
    make_app(db).run()
