"""Provides the run screen's System and Logs tabs (a mixin of ``RunScreen``).

System: a charts panel of the run's ``sys/`` series (CPU, memory, disk, network, GPUs) in one
grid, against time since the start; the Charts tab shows the other keys. Logs: the run's console
lines in a ``LogView``, read here in a thread worker, followed on the run screen's live tick.
The l key on a chart of either tab opens Logs at the crosshair's step.
"""

from __future__ import annotations

from textual import work
from textual.widgets import TabbedContent, TabPane

from ..messages import ConsoleLinesLoaded
from ..metric_order import is_system_key
from ..widgets.charts_panel import ChartsPanel, RunRef
from ..widgets.log_view import CONTEXT, MAX_LINES, LinesQuery, LogView
from .charts import ChartsScreen

SYSTEM_GRID = 8  # sys/ charts opened at first (the picker has the rest)


class SystemAndLogsTabs(ChartsScreen):
    """The System and Logs tabs; ``RunScreen`` calls ``show_system``/``show_logs`` when first shown."""

    run_id: str

    def show_system(self, run: RunRef) -> None:
        pane = self.query_one("#system", TabPane)
        pane.query(".chart-hint").remove()
        pane.mount(self.charts_panel_for([run], keys_filter=is_system_key, grid=True,
                                         grid_size=SYSTEM_GRID, x_mode="relative",
                                         step_jump=True, id="system-panel"))

    def show_logs(self) -> None:
        view = self.query_one(LogView)
        if view.generation == 0:  # (a chart's l key may have opened it at a step already)
            view.start()

    def logs_tick(self) -> None:
        """The live tick: new lines while the run runs (once the Logs tab was shown)."""
        view = self.query_one(LogView)
        if view.loaded:
            view.tail()

    # -- reads ------------------------------------------------------------------------------------
    def on_log_view_lines_wanted(self, message: LogView.LinesWanted) -> None:
        message.stop()
        self.read_console(message.query)

    @work(thread=True, group="console", exit_on_error=False)
    def read_console(self, query: LinesQuery) -> None:
        with self.tracker.open_store() as store:
            after = query.after
            if query.at_step is not None:
                seq = store.console_seq_at_step(self.run_id, query.at_step)
                after = None if seq is None else seq - CONTEXT - 1
                if seq is None:  # nothing printed from that step on: the last lines
                    lines = store.console_lines(self.run_id, stream=query.stream,
                                                grep=query.grep or None, limit=MAX_LINES,
                                                last=True)
                    self.post_message(ConsoleLinesLoaded(query, lines))
                    return
            lines = store.console_lines(self.run_id, after=after, stream=query.stream,
                                        grep=query.grep or None, limit=MAX_LINES,
                                        last=query.last)
        self.post_message(ConsoleLinesLoaded(query, lines))

    def on_console_lines_loaded(self, message: ConsoleLinesLoaded) -> None:
        self.query_one(LogView).show_lines(message.query, message.lines)  # type: ignore[arg-type]

    # -- the jump from a chart --------------------------------------------------------------------
    def on_charts_panel_step_chosen(self, message: ChartsPanel.StepChosen) -> None:
        message.stop()
        self.query_one(TabbedContent).active = "logs"
        self.query_one(LogView).open_at_step(message.step)
