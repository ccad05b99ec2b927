"""Provides the base screen: worker failures become one-line error notifications."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import events, on
from textual.screen import Screen
from textual.widgets import Input, Select, TabbedContent, Tabs
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

    def action_back(self) -> None:
        """Leave the screen; first hide a chart's crosshair or leave (and clear) a search box."""
        from ..widgets.chart import LineChart

        focused = self.focused
        if isinstance(focused, LineChart) and focused.cursor_x is not None:
            focused.cursor_x = None
            return
        if isinstance(focused, Input):
            focused.value = ""
            self.focus_next()  # out of the search box: digits and letters are keys again
            return
        self.app.pop_screen()

    def show_tab(self, tab: str) -> None:
        """Switch tabs; the new pane's content gets the focus (see ``_tab_activated``)."""
        # Focus must leave the old pane first: a focused widget in a pane being hidden hands
        # focus to its neighbour in that pane, which switches the tab right back.
        self.set_focus(None)
        self.query_one(TabbedContent).active = tab

    @on(events.Mount)
    def _tabs_never_focused(self) -> None:
        # Tabs change with 1-6 or a click. A focused tab bar looks like nothing is focused, and
        # its left/right keys switched tabs while the user thought they were in the pane below.
        for tabs in self.query(Tabs):
            tabs.can_focus = False

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Whichever way a tab was chosen (key, click), its content gets the focus."""
        from ..widgets.chart import LineChart

        pane = event.pane

        def focus_pane() -> None:
            if not pane.is_attached or self.query_one(TabbedContent).active != pane.id:
                return
            focused = self.focused
            if focused is not None and pane in focused.ancestors:
                return  # already in the pane (a click on its content)
            # The content, not a search box: keys stay keys until the user goes to search.
            focusable = [w for w in pane.query("*") if w.focusable]
            content = [w for w in focusable
                       if not any(isinstance(a, (Input, Select)) for a in w.ancestors_with_self)]
            content.sort(key=lambda w: not isinstance(w, LineChart))  # charts: the chart first
            if content or focusable:
                (content or focusable)[0].focus()

        self.call_after_refresh(focus_pane)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(one_line(event.worker.error), severity="error", timeout=6, markup=False)
