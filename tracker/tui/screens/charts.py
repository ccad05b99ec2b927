"""Provides the base of the screens that show a charts panel: they read its keys, curves and tails.

The screen reads the runs' keys as it creates the panel, and the curves the panel asks for
(``CurvesWanted``), in thread workers that each open their own Store; it hands the typed
results to the panel. While a charted run is going, a timer reads the points logged since the
last read, about 4 times a second.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.timer import Timer

from ..messages import ChartKeysLoaded, CurvesLoaded, TailsLoaded
from ..reads import chart_keys, curves, tails
from ..results import TailMark
from ..widgets.charts_panel import ChartsPanel, RunRef, chart_buckets
from .base import BaseScreen

LIVE_INTERVAL = 0.25  # 4 Hz


class ChartsScreen(BaseScreen):
    """A screen with one ``ChartsPanel``, whose reads it makes."""

    _live_timer: Timer | None = None
    _panel: ChartsPanel | None = None
    _other_panels: tuple[ChartsPanel, ...] = ()  # a run's System tab: its sys/ series

    @property
    def charts_panel(self) -> ChartsPanel | None:
        """The panel (kept, not queried: a live tick asks for it 4 times a second)."""
        return self._panel

    def _panels(self) -> list[ChartsPanel]:
        first = [self._panel] if self._panel is not None else []
        return first + list(self._other_panels)

    # -- requests -----------------------------------------------------------------------------
    def charts_panel_for(self, runs: list[RunRef], **options: Any) -> ChartsPanel:
        """A charts panel of ``runs`` whose keys and first curves are being read already
        (``options``: ChartsPanel's; a second panel charts other keys of the same runs).

        Call it where the panel is composed or mounted: the read runs while the screen is laid
        out, and its result is handled once the screen (and so the panel) is mounted.
        """
        panel = ChartsPanel(runs, **options)
        buckets = chart_buckets(self.app.size.width)
        if self._panel is None:
            self._panel = panel
            self.read_chart_keys([r.id for r in runs], buckets)
        else:
            self._other_panels = (*self._other_panels, panel)
            self.read_more_chart_keys([r.id for r in runs], buckets)
        if self.tracker.live and any(r.running for r in runs) and self._live_timer is None:
            self._live_timer = self.set_interval(LIVE_INTERVAL, self.live_tick)
        return panel

    def on_charts_panel_curves_wanted(self, message: ChartsPanel.CurvesWanted) -> None:
        message.stop()
        self.read_curves(message.key, message.counts, message.buckets, message.window,
                         message.generation)

    def live_tick(self) -> None:
        """Read the points the running runs logged since the last tick."""
        marks = [mark for panel in self._panels() for mark in panel.tail_marks()]
        if marks:
            self.read_tails(marks)

    def run_stopped(self, run_id: str) -> None:
        """A charted run ended: one last read of its points, then it is no longer tailed."""
        panels = self._panels()
        if not panels:
            return
        self.live_tick()  # the points it logged since the last tick
        for panel in panels:
            panel.set_running(run_id, False)
        if self._live_timer is not None and not any(p.live for p in panels):
            self._live_timer.stop()
            self._live_timer = None

    # -- reads (thread workers, one Store each) ----------------------------------------------
    @work(thread=True, exclusive=True, group="chart-keys", exit_on_error=False)
    def read_chart_keys(self, run_ids: list[str], buckets: int) -> None:
        with self.tracker.open_store() as store:
            read = chart_keys(store, run_ids, buckets)
        self.post_message(ChartKeysLoaded(read))

    @work(thread=True, exclusive=True, group="chart-keys-more", exit_on_error=False)
    def read_more_chart_keys(self, run_ids: list[str], buckets: int) -> None:
        with self.tracker.open_store() as store:
            read = chart_keys(store, run_ids, buckets)
        self.post_message(ChartKeysLoaded(read))

    # Not exclusive: charts of several keys read at once (the grid); a chart asked again drops
    # the older result by its generation.
    @work(thread=True, group="chart-curves", exit_on_error=False)
    def read_curves(self, key: str, counts: dict[str, int], buckets: int,
                    window: tuple[float, float] | None, generation: int) -> None:
        with self.tracker.open_store() as store:
            read = curves(store, key, counts, buckets, window)
        self.post_message(CurvesLoaded(key, window, generation, read))

    @work(thread=True, exclusive=True, group="chart-tails", exit_on_error=False)
    def read_tails(self, marks: list[TailMark]) -> None:
        with self.tracker.open_store() as store:
            read = tails(store, marks)
        self.post_message(TailsLoaded(read, marks))

    # -- results ------------------------------------------------------------------------------
    # Each panel takes what is for it: the keys once (its own filter), curves and tails of the
    # keys it charts (the panels of one screen chart different keys).
    def on_chart_keys_loaded(self, message: ChartKeysLoaded) -> None:
        for panel in self._panels():
            panel.keys_read(message.chart_keys)

    def on_curves_loaded(self, message: CurvesLoaded) -> None:
        for panel in self._panels():
            panel.show_curves(message.key, message.window, message.generation, message.curves)

    def on_tails_loaded(self, message: TailsLoaded) -> None:
        if message.tails:
            for panel in self._panels():
                panel.add_tails(message.tails)
