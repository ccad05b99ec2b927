"""Shared set-up of the app's tests: a seeded demo store, and helpers that drive the app (``ui``).

The helpers wait on conditions, never on the clock alone: workers read the store in threads, the
runs screen waits 10x its last read's wall time (up to 10 s) between live reloads, and a loaded
2-core machine can stall either for seconds, so the time limits are generous.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tracker.demo import seed_demo
from tracker.tui.screens.run import RunScreen
from tracker.tui.screens.runs import RunsScreen
from tracker.tui.widgets.runs_table import RunsTable

TIMEOUT = 60.0


class Ui:
    """Waits on the app and reads what it shows (Pilot tests)."""

    @staticmethod
    async def wait_for(pilot: Any, condition: Callable[[], bool], what: str = "a condition",
                       timeout: float = TIMEOUT, interval: float = 0.02) -> None:
        """Let the app run until ``condition`` holds; fail, naming ``what``, after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await pilot.pause(interval)

    async def runs_ready(self, pilot: Any) -> RunsTable:
        """The runs table, once the runs screen's first load is shown."""
        await self.wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen)
                            and pilot.app.screen.loaded, "the runs to load")
        return pilot.app.screen.query_one(RunsTable)

    async def open_run(self, pilot: Any, name: str = "baseline") -> RunScreen:
        """Open the run called ``name`` from the runs table; its screen once its detail came."""
        table = await self.runs_ready(pilot)
        await self.wait_for(pilot, lambda: name in self.names(table), f"the run {name!r}")
        table.move_cursor(row=self.names(table).index(name))
        await pilot.press("enter")
        await self.wait_for(pilot, lambda: isinstance(pilot.app.screen, RunScreen)
                            and pilot.app.screen.detail is not None, "the run screen")
        return pilot.app.screen

    def steps(self, *actions: str | Callable[[Any], bool]) -> Callable[[Any], Awaitable[None]]:
        """A ``run_before`` for snapshots: once the runs are shown, press keys and wait for
        conditions on the app, in order; it ends when every worker is done."""

        async def run_before(pilot: Any) -> None:
            await self.runs_ready(pilot)
            for action in actions:
                if isinstance(action, str):
                    await pilot.press(action)
                else:
                    await self.wait_for(pilot, partial(action, pilot.app), f"the app ({action})")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()

        return run_before

    @staticmethod
    def names(table: RunsTable) -> list[str]:
        """The name column top to bottom, as displayed (group headers included)."""
        return [table.get_cell(row.key, "name").plain for row in table.ordered_rows]

    @staticmethod
    def screen_text(app: Any) -> str:
        """Everything on screen as plain text (from the app's own SVG screenshot)."""
        texts = re.findall(r"<text[^>]*>(.*?)</text>", app.export_screenshot())
        return html.unescape("".join(texts)).replace("\xa0", " ")


@pytest.fixture
def ui() -> Ui:
    return Ui()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo store shared by a module's tests that only read."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    seed_demo(path)
    return path
