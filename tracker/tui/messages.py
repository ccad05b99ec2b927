"""What the screens' read workers post: one message type per kind of read, with typed fields.

A worker posts its result to the screen that started it; the screen's handler (on the UI thread)
hands the data to its widgets. Results that a newer one makes useless say so in ``can_replace``
(Textual drops a queued message when the next one in the queue may replace it); results that a
newer request made stale are dropped by their handler.
"""

from __future__ import annotations

from textual.message import Message

from ..graph import Graph
from ..profile import Profile
from ..records import EncodedImage, HistogramPoint, KeyInfo, RunInfo, TextPoint
from .results import ChartKeys, CurveData, RunDetail, TailMark


class RunsLoaded(Message):
    """Every run, with last values (the runs screen's load and live reloads)."""

    def __init__(self, runs: list[RunInfo], elapsed: float, *, missing: bool = False,
                 error: str = "") -> None:
        super().__init__()
        self.runs = runs
        self.elapsed = elapsed  # seconds the read took: the live interval adapts to it
        self.missing = missing  # no store file (yet): the app waits for the first run
        self.error = error  # the store could not be read (one line); the app keeps trying

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunsLoaded)  # a newer list of every run says it all


class SparksLoaded(Message):
    """Sparkline texts of one metric for some runs."""

    def __init__(self, key: str, sparks: dict[str, str]) -> None:
        super().__init__()
        self.key = key
        self.sparks = sparks


class RunsEdited(Message):
    """An edit (rename, tags, notes, delete) reached the store."""

    def __init__(self, summary: str) -> None:
        super().__init__()
        self.summary = summary


class RunDetailLoaded(Message):
    """A run with the headers of what it logged (keys, graphs, profiles)."""

    def __init__(self, detail: RunDetail) -> None:
        super().__init__()
        self.detail = detail


class RunHeaderLoaded(Message):
    """A live run read again for its header; ``run`` is None once it cannot be read."""

    def __init__(self, run: RunInfo | None) -> None:
        super().__init__()
        self.run = run

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunHeaderLoaded)


class HistogramsLoaded(Message):
    """Every histogram of one key of the shown run."""

    def __init__(self, key: str, points: list[HistogramPoint]) -> None:
        super().__init__()
        self.key = key
        self.points = points


class TextsLoaded(Message):
    """Every text of one key of the shown run."""

    def __init__(self, key: str, points: list[TextPoint]) -> None:
        super().__init__()
        self.key = key
        self.points = points


class GraphLoaded(Message):
    """One model graph with its nodes and edges."""

    def __init__(self, graph_id: int, graph: Graph) -> None:
        super().__init__()
        self.graph_id = graph_id
        self.graph = graph


class ProfileLoaded(Message):
    """One profile's op rows and step times."""

    def __init__(self, profile_id: int, profile: Profile) -> None:
        super().__init__()
        self.profile_id = profile_id
        self.profile = profile


class CompareLoaded(Message):
    """The compared runs (in the order chosen) and their scalar keys."""

    def __init__(self, runs: list[RunInfo], keys: dict[str, list[KeyInfo]]) -> None:
        super().__init__()
        self.runs = runs
        self.keys = keys


class ChartKeysLoaded(Message):
    """The charted runs' scalar keys and the first chart's curves."""

    def __init__(self, chart_keys: ChartKeys) -> None:
        super().__init__()
        self.chart_keys = chart_keys


class CurvesLoaded(Message):
    """One chart's curves, read for a window (None: everything) by request ``generation``."""

    def __init__(self, key: str, window: tuple[float, float] | None, generation: int,
                 curves: list[CurveData]) -> None:
        super().__init__()
        self.key = key
        self.window = window
        self.generation = generation  # the chart drops a result older than its last request
        self.curves = curves


class TailsLoaded(Message):
    """Live curves' new points, each with the mark it was read after."""

    def __init__(self, tails: list[tuple[TailMark, CurveData]], marks: list[TailMark]) -> None:
        super().__init__()
        self.tails = tails
        self.marks = marks  # every curve asked for (those with no new points too)

    def can_replace(self, message: Message) -> bool:
        # A newer tail read from the same marks holds every point this one does (and more):
        # the marks move only when a tail is shown, so this one was never shown in between.
        return isinstance(message, TailsLoaded) and set(self.marks) <= set(message.marks)


class ConsoleLinesLoaded(Message):
    """Console lines read for a log view's request (``query``: a ``LinesQuery``)."""

    def __init__(self, query: object, lines: list) -> None:
        super().__init__()
        self.query = query
        self.lines = lines


class ImageKeysLoaded(Message):
    """The image keys of the shown runs (any of them logged)."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__()
        self.keys = keys


class ImageKeyLoaded(Message):
    """One image key's steps (of all the shown runs) and each run's image at the last one."""

    def __init__(self, key: str, steps: list[int], images: dict[str, EncodedImage | None]) -> None:
        super().__init__()
        self.key, self.steps, self.images = key, steps, images


class ImagesLoaded(Message):
    """Each shown run's image of one key at one step (None where it has none)."""

    def __init__(self, key: str, step: int, images: dict[str, EncodedImage | None]) -> None:
        super().__init__()
        self.key, self.step, self.images = key, step, images

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ImagesLoaded)  # a slider moved on: only the newest counts
