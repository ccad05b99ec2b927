"""Provides the log view: a run's console lines, followed live, searched, filtered by stream, and
opened at a step (the charts' l key).

The view reads nothing: it asks its screen for lines (``LinesWanted``) and is handed what was read
(``show_lines``). It shows at most ``MAX_LINES`` lines: the last ones, or those from a chosen step
on. Lines are data: shown through ``display_line`` (no escapes, no markup), the search's matches
highlighted, stderr in the error colour, each with the step it was printed at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, RichLog, Static

from ...console_text import display_line
from ...records import LoggedLine

MAX_LINES = 5_000  # lines held and drawn at once
CONTEXT = 5  # lines shown above the first line of a chosen step
STREAMS: tuple[str | None, ...] = (None, "stdout", "stderr")


@dataclass(frozen=True)
class LinesQuery:
    """What the view asks for: lines after ``after`` (or the last ones), filtered, or the lines
    from ``at_step`` on; ``replace`` starts the view over, else the lines are appended."""

    generation: int
    stream: str | None
    grep: str
    after: int | None = None
    last: bool = False
    at_step: int | None = None
    replace: bool = True


class LogView(Vertical):
    """A search box and filter line over the lines; follows the run's end while it runs."""

    DEFAULT_CSS = """
    LogView #log-bar { height: 3; }
    LogView #log-search { width: 40; }
    LogView #log-status { width: 1fr; padding: 1 1 0 1; }
    LogView #log-lines { height: 1fr; }
    """
    BINDINGS = [
        Binding("slash", "search", "Search"),
        Binding("t", "stream", "Stream", tooltip="All lines, stdout only, stderr only"),
        Binding("f", "follow", "Follow", tooltip="Show the newest lines and keep following"),
    ]

    class LinesWanted(Message):
        """Read the run's console lines for ``query``."""

        def __init__(self, view: LogView, query: LinesQuery) -> None:
            super().__init__()
            self.view = view
            self.query = query

        @property
        def control(self) -> LogView:
            return self.view

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lines: list[LoggedLine] = []  # what is shown, oldest first
        self.search = ""
        self.stream: str | None = None
        self.following = True
        self.at_step: int | None = None
        self.generation = 0
        self.loaded = False  # the first read came
        self._tail_pending = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="log-bar"):
            yield Input(placeholder="search (enter; empty shows all)", id="log-search")
            yield Static(id="log-status")
        yield RichLog(id="log-lines", wrap=False, markup=False, highlight=False,
                      max_lines=MAX_LINES, auto_scroll=True)

    # -- requests ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Read the newest lines (the view's first read, and f)."""
        self.following, self.at_step = True, None
        self._want(after=None, last=True)

    def open_at_step(self, step: int) -> None:
        """Show the lines from ``step`` on (with a few before); following stops."""
        self.following, self.at_step = False, step
        self._want(at_step=step)

    def tail(self) -> None:
        """A live tick: read what came after the last line shown (while following)."""
        if not self.following or not self.loaded or self._tail_pending:
            return
        self._tail_pending = True
        after = self.lines[-1].seq if self.lines else None
        query = LinesQuery(self.generation, self.stream, self.search, after=after, replace=False)
        self.screen.post_message(self.LinesWanted(self, query))

    def _want(self, **fields: Any) -> None:
        self.generation += 1
        self._tail_pending = False
        query = LinesQuery(self.generation, self.stream, self.search, **fields)
        self.screen.post_message(self.LinesWanted(self, query))  # to the screen, which reads
        self._status()

    # -- data in ----------------------------------------------------------------------------------
    def show_lines(self, query: LinesQuery, lines: list[LoggedLine]) -> None:
        """Lines read for ``query`` (dropped when a newer request made it stale)."""
        if query.generation != self.generation:
            return
        log = self.query_one("#log-lines", RichLog)
        if query.replace:
            self.loaded = True
            self.lines = list(lines)
            log.clear()
        else:
            self._tail_pending = False
            if not lines or (self.lines and lines[0].seq <= self.lines[-1].seq):
                self._status()
                return
            self.lines = (self.lines + list(lines))[-MAX_LINES:]
        log.auto_scroll = self.following
        for line in lines:
            log.write(self._line_text(line))
        if query.replace and query.at_step is not None:
            anchor = next((i for i, ln in enumerate(self.lines)
                           if ln.step is not None and ln.step >= query.at_step), 0)
            self.call_after_refresh(lambda: log.scroll_to(y=max(0, anchor - CONTEXT),
                                                          animate=False))
        self._status()

    def _line_text(self, line: LoggedLine) -> Text:
        text = Text("       - " if line.step is None else f"{line.step:>8} ", style="dim")
        body = Text(display_line(line.text), style="red" if line.stream == "stderr" else "")
        if self.search:
            body.highlight_words([self.search], style="black on yellow", case_sensitive=True)
        text.append_text(body)
        return text

    def _status(self) -> None:
        parts = [{None: "stdout+stderr", "stdout": "stdout only", "stderr": "stderr only"}[
            self.stream]]
        if self.search:
            parts.append(f"matching {self.search!r}")
        if self.at_step is not None:
            parts.append(f"from step {self.at_step} (f: follow)")
        elif self.following:
            parts.append("following")
        count = len(self.lines)
        parts.append(f"{count} line{'s' if count != 1 else ''}"
                     + (f" (the last {MAX_LINES})" if count >= MAX_LINES else ""))
        if self.loaded and not self.lines:
            parts.append("no console output stored" if not (self.search or self.stream)
                         else "nothing matches")
        self.query_one("#log-status", Static).update(Text("  ·  ".join(parts), style="dim"))

    def shown_text(self) -> list[str]:
        """The lines as drawn (step column and text), for tests and copying."""
        return [self._line_text(line).plain for line in self.lines]

    # -- actions ----------------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.search = event.value
        self._again()
        self.query_one("#log-lines", RichLog).focus()

    def _again(self) -> None:
        if self.at_step is not None:
            self.open_at_step(self.at_step)
        else:
            self.start()

    def action_search(self) -> None:
        self.query_one("#log-search", Input).focus()

    def action_stream(self) -> None:
        self.stream = STREAMS[(STREAMS.index(self.stream) + 1) % len(STREAMS)]
        self._again()

    def action_follow(self) -> None:
        self.start()


