"""Provides the run screen: one run's charts, config, histograms, text, graph, profile, system,
logs and images tabs."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import Header, Select, Static, TabbedContent, TabPane

from ...errors import TrackerError
from ...format import clean, duration, status_mark, status_style, status_text, when
from ...records import RunInfo
from .. import reads
from ..messages import (
    GraphLoaded,
    HistogramsLoaded,
    ProfileLoaded,
    RunDetailLoaded,
    RunHeaderLoaded,
    TextsLoaded,
)
from ..results import RunDetail
from ..widgets.charts_panel import ChartsPanel, RunRef
from ..widgets.config_view import ConfigView
from ..widgets.footer import TrackerFooter
from ..widgets.graph_view import GraphView
from ..widgets.histogram_view import HistogramView
from ..widgets.profile_view import ProfileView
from ..widgets.text_view import TextView
from ..metric_order import is_system_key
from ..widgets.images_panel import ImagesPanel
from ..widgets.log_view import LogView
from .images import ImagesTab
from .run_system_logs import SystemAndLogsTabs

TABS = ("charts", "config", "histograms", "text", "graph", "profile", "system", "logs", "images")
HEADER_INTERVAL = 1.0  # seconds between re-reads of a running run's status, step and duration


def run_header(run: RunInfo, now: float) -> Text:
    """Status, project/name, group, tags, start, duration and step; what is damaged in the stored
    row and the notes on the lines below."""
    text = Text()
    text.append(f"{status_mark(run.status, run.damaged)} {status_text(run.status, run.damaged)}  ",
                style=status_style(run.status, run.damaged))
    text.append(clean(run.project) + " / ", style="dim")
    text.append(clean(run.name), style="bold")
    text.append(f"  {run.id}", style="dim")
    if run.group:
        text.append(f"  group {clean(run.group)}")
    if run.tags:
        text.append("  tags " + clean(", ".join(run.tags)))
    text.append(f"  started {when(run.started, now)}  {duration(run.duration)}")
    if run.last_step is not None:
        text.append(f"  step {run.last_step}")
    if run.damaged:  # what the read left empty, and why (the same note `tracker ls` prints)
        text.append("\ndamaged: " + clean(run.damaged), style=status_style(run.status, run.damaged))
    if run.notes:
        text.append("\n" + clean(run.notes), style="italic")
    return text


class RunScreen(ImagesTab, SystemAndLogsTabs):
    """One run in tabs; each tab reads its data when it is first shown."""

    AUTO_FOCUS = None  # the first chart takes the focus when it is drawn, not a search box
    BINDINGS = [
        Binding("escape", "back", "Back", priority=True),
        *(Binding(str(i + 1), f"tab('{name}')", name.title(), show=False)
          for i, name in enumerate(TABS)),
    ]

    def __init__(self, run_id: str, run: RunInfo | None = None) -> None:
        """``run``, when the opener has it, lets the charts start before the run is re-read."""
        super().__init__()
        self.run_id = run_id
        self.image_run_ids = [run_id]
        self.run_info = run
        self.detail: RunDetail | None = None
        self.loaded_tabs: set[str] = set()
        # What each tab asked for last (a histogram or text key, a graph or profile id): a
        # result for anything else came too late and is dropped.
        self.wanted: dict[str, object] = {}
        self._header_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("loading…"), classes="run-header", id="run-header")
        with TabbedContent(initial="charts", id="run-tabs"):
            with TabPane("Charts", id="charts"):
                if self.run_info is not None:
                    yield self._charts(self.run_info)
                else:
                    yield Static(Text("loading…"), classes="chart-hint", id="charts-wait")
            with TabPane("Config", id="config"):
                yield ConfigView()
            with TabPane("Histograms", id="histograms"):
                yield HistogramView()
            with TabPane("Text", id="text"):
                yield TextView()
            with TabPane("Graph", id="graph"):
                yield Select([], prompt="graph", id="graph-select", allow_blank=True)
                yield GraphView()
            with TabPane("Profile", id="profile"):
                yield Select([], prompt="profile", id="profile-select", allow_blank=True)
                yield ProfileView()
            with TabPane("System", id="system"):
                yield Static(Text("loading…"), classes="chart-hint")
            with TabPane("Logs", id="logs"):
                yield LogView()
            with TabPane("Images", id="images"):
                yield ImagesPanel([(self.run_id, "")])
        yield TrackerFooter()

    def on_mount(self) -> None:
        self.load_detail()

    # -- reads (thread workers, one Store each) ----------------------------------------------
    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def load_detail(self) -> None:
        with self.tracker.open_store() as store:
            detail = reads.run_detail(store, self.run_id)
        self.post_message(RunDetailLoaded(detail))

    @work(thread=True, exclusive=True, group="header", exit_on_error=False)
    def reload_header(self) -> None:
        """Re-read the run while it is going: its header shows its status, step and duration."""
        try:
            with self.tracker.open_store() as store:
                run: RunInfo | None = store.run(self.run_id)
        except TrackerError:  # deleted meanwhile, or the store went away: stop asking
            run = None
        self.post_message(RunHeaderLoaded(run))

    @work(thread=True, exclusive=True, group="histograms", exit_on_error=False)
    def read_histograms(self, key: str) -> None:
        with self.tracker.open_store() as store:
            points = reads.histograms(store, self.run_id, key)
        self.post_message(HistogramsLoaded(key, points))

    @work(thread=True, exclusive=True, group="texts", exit_on_error=False)
    def read_texts(self, key: str) -> None:
        with self.tracker.open_store() as store:
            points = reads.texts(store, self.run_id, key)
        self.post_message(TextsLoaded(key, points))

    @work(thread=True, exclusive=True, group="graph", exit_on_error=False)
    def read_graph(self, graph_id: int) -> None:
        with self.tracker.open_store() as store:
            graph = reads.graph(store, graph_id)
        self.post_message(GraphLoaded(graph_id, graph))

    @work(thread=True, exclusive=True, group="profile", exit_on_error=False)
    def read_profile(self, profile_id: int) -> None:
        with self.tracker.open_store() as store:
            profile = reads.profile(store, profile_id)
        self.post_message(ProfileLoaded(profile_id, profile))

    # -- results ------------------------------------------------------------------------------
    async def on_run_detail_loaded(self, message: RunDetailLoaded) -> None:
        await self._detail_loaded(message.detail)

    def on_run_header_loaded(self, message: RunHeaderLoaded) -> None:
        self._header_loaded(message.run)

    def on_histograms_loaded(self, message: HistogramsLoaded) -> None:
        if self.wanted.get("histograms") == message.key:
            self.query_one(HistogramView).show(message.key, message.points)

    def on_texts_loaded(self, message: TextsLoaded) -> None:
        if self.wanted.get("texts") == message.key:
            self.query_one(TextView).show(message.key, message.points)

    def on_graph_loaded(self, message: GraphLoaded) -> None:
        if self.wanted.get("graph") == message.graph_id:
            self.query_one(GraphView).show(message.graph)

    def on_profile_loaded(self, message: ProfileLoaded) -> None:
        if self.wanted.get("profile") == message.profile_id:
            self.query_one(ProfileView).show(message.profile)

    def _charts(self, run: RunInfo) -> ChartsPanel:
        return self.charts_panel_for([self._run_ref(run)], step_jump=True,
                                     keys_filter=lambda key: not is_system_key(key))

    def _run_ref(self, run: RunInfo) -> RunRef:
        return RunRef(run.id, run.name, 0, run.status == "running")

    async def _detail_loaded(self, detail: RunDetail) -> None:
        self.detail = detail
        run = detail.run
        self.query_one("#run-header", Static).update(run_header(run, self.tracker.clock()))
        self.sub_title = clean(run.name)
        if self.run_info is None:
            pane = self.query_one("#charts", TabPane)
            pane.query("#charts-wait").remove()
            # Awaited: the screen handles the panel's keys read (started here) only after this
            # handler returns, so the panel is mounted by then.
            await pane.mount(self._charts(run))
        self._tab_shown(self.query_one(TabbedContent).active)
        if self.tracker.live and run.status == "running" and self._header_timer is None:
            self._header_timer = self.set_interval(HEADER_INTERVAL, self.reload_header)

    def _header_loaded(self, run: RunInfo | None) -> None:
        if run is None:
            if self._header_timer is not None:
                self._header_timer.stop()
                self._header_timer = None
            return
        if self.detail is not None:
            self.detail.run = run
        self.query_one("#run-header", Static).update(run_header(run, self.tracker.clock()))
        self.logs_tick()  # (after an end too: its last lines)
        if run.status != "running" and self._header_timer is not None:
            self._header_timer.stop()  # it ended: one last read of its curves, then no more
            self._header_timer = None
            self.run_stopped(run.id)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id:
            self._tab_shown(event.pane.id)

    def _tab_shown(self, tab: str) -> None:
        """Fill a tab the first time it is shown (after the run's headers arrived)."""
        detail = self.detail
        if detail is None or tab in self.loaded_tabs:
            return
        self.loaded_tabs.add(tab)
        run = detail.run
        if tab == "config":
            info = {"id": run.id, "project": run.project, "name": run.name, "group": run.group,
                    "status": run.status, "tags": run.tags, "notes": run.notes, "host": run.host,
                    "pid": run.pid, "rank": run.rank, "world_size": run.world_size}
            if run.damaged:
                info["damaged"] = run.damaged
            self.query_one(ConfigView).show({"config": run.config, "summary": run.summary,
                                             "run": info})
        elif tab == "histograms":
            self.query_one(HistogramView).set_keys(
                [k.key for k in detail.keys if k.kind == "histogram"])
        elif tab == "text":
            self.query_one(TextView).set_keys([k.key for k in detail.keys if k.kind == "text"])
        elif tab == "graph":
            self._fill_select("#graph-select", [(f"{g.name} · {g.framework} · {g.node_count} nodes",
                                                 g.id) for g in detail.graphs])
            if not detail.graphs:
                self.query_one(GraphView).show(None)
        elif tab == "system":
            self.show_system(self._run_ref(run))
        elif tab == "logs":
            self.show_logs()
        elif tab == "profile":
            self._fill_select("#profile-select", [(f"{p.name} · {p.framework} · {p.op_count} ops",
                                                   p.id) for p in detail.profiles])
            if not detail.profiles:
                self.query_one(ProfileView).show(None)
        elif tab == "images":
            self.query_one(ImagesPanel).set_keys([k.key for k in detail.keys if k.kind == "image"])

    def _fill_select(self, selector: str, options: list[tuple[str, int]]) -> None:
        select = self.query_one(selector, Select)
        select.set_options([(Text(clean(label)), value) for label, value in options])
        select.display = len(options) > 1
        if options:
            select.value = options[-1][1]  # the newest capture

    def on_select_changed(self, event: Select.Changed) -> None:
        if not isinstance(event.value, int):  # blank
            return
        if event.select.id == "graph-select":
            self.wanted["graph"] = event.value
            self.read_graph(event.value)
        else:
            self.wanted["profile"] = event.value
            self.read_profile(event.value)

    def on_histogram_view_key_chosen(self, event: HistogramView.KeyChosen) -> None:
        self.wanted["histograms"] = event.key
        self.read_histograms(event.key)

    def on_text_view_key_chosen(self, event: TextView.KeyChosen) -> None:
        self.wanted["texts"] = event.key
        self.read_texts(event.key)

    def action_tab(self, tab: str) -> None:
        self.show_tab(tab)

