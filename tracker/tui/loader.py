"""Reads the app makes, as plain functions of a ``Store`` (called inside thread workers only).

Nothing here imports Textual: each function takes a Store that the calling worker opened on its
own thread and returns plain data for a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..format import sparklines
from ..graph import Graph
from ..profile import Profile
from ..query import GraphInfo, ProfileInfo, Store
from ..records import HistogramPoint, KeyInfo, RunInfo, TextPoint

FULL_READ_LIMIT = 200_000  # above this many points a chart reads min/max buckets, not points
SPARK_BUCKETS = 32


@dataclass
class CurveData:
    """One run's curve of one key, either every point or min/max/mean buckets."""

    run_id: str
    key: str
    steps: np.ndarray  # float64 x in steps (bucket centres when reduced)
    values: np.ndarray  # values, or bucket means
    walls: np.ndarray | None  # wall times (None when reduced)
    mins: np.ndarray | None = None
    maxs: np.ndarray | None = None
    count: int = 0  # points stored when read
    reduced: bool = False
    last_step: float = float("-inf")  # live tailing asks for the points after this step


@dataclass
class RunDetail:
    """What the run screen shows besides curves: its keys, graphs and profiles."""

    run: RunInfo
    keys: list[KeyInfo] = field(default_factory=list)
    graphs: list[GraphInfo] = field(default_factory=list)
    profiles: list[ProfileInfo] = field(default_factory=list)


def spark_texts(store: Store, run_ids: list[str], key: str, width: int = 8) -> dict[str, str]:
    """A block-glyph sparkline of ``key`` for each run that logged it."""
    rows, ids = [], []
    for run_id in run_ids:
        reduced = store.reduced(run_id, key, SPARK_BUCKETS)
        if reduced.counts.any():
            rows.append(reduced.means[reduced.counts > 0])
            ids.append(run_id)
    return dict(zip(ids, sparklines(rows, width)))


def run_detail(store: Store, run_id: str) -> RunDetail:
    """A run with its keys, graphs and profiles (the headers, not their contents)."""
    return RunDetail(
        run=store.run(run_id),
        keys=store.keys(run_id),
        graphs=store.graphs(run_id),
        profiles=store.profiles(run_id),
    )


def scalar_keys(store: Store, run_ids: list[str]) -> dict[str, list[KeyInfo]]:
    """The scalar keys of each run."""
    return {run_id: store.keys(run_id, "scalar") for run_id in run_ids}


def curve(
    store: Store,
    run_id: str,
    key: str,
    buckets: int,
    start: int | None = None,
    end: int | None = None,
    count: int | None = None,
) -> CurveData:
    """A run's curve of ``key``: all points when there are few, else ``buckets`` min/max buckets.

    ``count`` is the stored point count when the caller knows it (from ``KeyInfo``).
    """
    if count is None:
        count = next((k.count for k in store.keys(run_id, "scalar") if k.key == key), 0)
    if count <= FULL_READ_LIMIT:
        series = store.series(run_id, key, start, end)
        last = float(series.steps.max()) if len(series) else float("-inf")
        return CurveData(run_id, key, series.steps.astype(np.float64), series.values,
                         series.walls, count=count, last_step=last)
    red = store.reduced(run_id, key, buckets, start, end)
    centres = (red.edges[:-1] + red.edges[1:]) / 2
    keep = red.counts > 0
    return CurveData(run_id, key, centres[keep], red.means[keep], None,
                     mins=red.mins[keep], maxs=red.maxs[keep], count=count, reduced=True,
                     last_step=float(red.end))


def tail(store: Store, run_id: str, key: str, after_step: float) -> CurveData:
    """The points of a curve with a step after ``after_step`` (live tailing).

    Reads by step range from the store's packed chunks, in well under a millisecond. By step
    rather than by count (``Store.points_after``) because the chart appends in ascending x: a
    point logged with a step at or before ``after_step`` (a loop that went back) shows on the
    next full read instead.
    """
    start = None if after_step == float("-inf") else int(after_step) + 1
    series = store.series(run_id, key, start)
    last = float(series.steps.max()) if len(series) else after_step
    return CurveData(run_id, key, series.steps.astype(np.float64), series.values, series.walls,
                     count=len(series), last_step=last)


def histograms(store: Store, run_id: str, key: str) -> list[HistogramPoint]:
    """Every histogram of a key, in step order."""
    return store.histograms(run_id, key)


def texts(store: Store, run_id: str, key: str) -> list[TextPoint]:
    """Every text of a key, in step order."""
    return store.texts(run_id, key)


def graph(store: Store, graph_id: int) -> Graph:
    """One graph with its nodes and edges."""
    return store.graph(graph_id)


def profile(store: Store, profile_id: int) -> Profile:
    """One profile's op rows and step times (the raw trace stays in the store)."""
    return store.profile(profile_id, with_trace=False)
