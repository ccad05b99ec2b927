"""The app's reads, as plain functions of a ``Reader`` (called inside the screens' thread workers).

Nothing here imports Textual: each function takes a Reader that the calling worker opened on its
own thread (a Reader is never shared between threads) and returns plain data for a message.
"""

from __future__ import annotations

import numpy as np

from ..format import sparklines
from ..graph import Graph
from ..profile import Profile
from ..read import Reader
from ..records import EncodedImage, HistogramPoint, KeyInfo, RunInfo, TextPoint
from .metric_order import first_key
from .results import ChartKeys, CurveData, RunDetail, TailMark

FULL_READ_LIMIT = 200_000  # above this many points a chart reads min/max buckets, not points
SPARK_BUCKETS = 32


def spark_texts(store: Reader, run_ids: list[str], key: str, width: int = 8) -> dict[str, str]:
    """A block-glyph sparkline of ``key`` for each run that logged it."""
    rows, ids = [], []
    for run_id in run_ids:
        reduced = store.reduced(run_id, key, SPARK_BUCKETS)
        if reduced.counts.any():
            rows.append(reduced.means[reduced.counts > 0])
            ids.append(run_id)
    return dict(zip(ids, sparklines(rows, width)))


def run_detail(store: Reader, run_id: str) -> RunDetail:
    """A run with its keys, graphs and profiles (the headers, not their contents)."""
    return RunDetail(
        run=store.run(run_id),
        keys=store.keys(run_id),
        graphs=store.graphs(run_id),
        profiles=store.profiles(run_id),
    )


def compared_runs(store: Reader, run_ids: list[str]) -> tuple[list[RunInfo], dict[str, list[KeyInfo]]]:
    """Runs in the order given (deleted ones left out) with their scalar keys."""
    runs = store.runs(ids=run_ids)
    keys = {r.id: store.keys(r.id, "scalar") for r in runs}
    order = {run_id: i for i, run_id in enumerate(run_ids)}
    runs.sort(key=lambda r: order.get(r.id, len(order)))
    return runs, keys


def scalar_keys(store: Reader, run_ids: list[str]) -> dict[str, list[KeyInfo]]:
    """The scalar keys of each run."""
    return {run_id: store.keys(run_id, "scalar") for run_id in run_ids}


def chart_keys(store: Reader, run_ids: list[str], buckets: int) -> ChartKeys:
    """The runs' scalar keys and the first chart's curves, in one read (one trip to the UI)."""
    keys = scalar_keys(store, run_ids)
    key = first_key(keys)
    counts = {(run_id, k.key): k.count for run_id, infos in keys.items() for k in infos}
    curves = [curve(store, run_id, key, buckets, count=counts[(run_id, key)])
              for run_id in run_ids if (run_id, key) in counts] if key else []
    return ChartKeys(keys, key, curves)


def curve(
    store: Reader,
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


def curves(
    store: Reader,
    key: str,
    counts: dict[str, int],
    buckets: int,
    window: tuple[float, float] | None,
) -> list[CurveData]:
    """``key``'s curve for each run in ``counts`` (run id -> points stored), over ``window``."""
    start, end = (None, None) if window is None else (int(window[0]), int(np.ceil(window[1])))
    return [curve(store, run_id, key, buckets, start, end, count)
            for run_id, count in counts.items()]


def tail(store: Reader, run_id: str, key: str, after_step: float) -> CurveData:
    """The points of a curve with a step after ``after_step`` (live tailing).

    Reads by step range from the store's packed chunks, in well under a millisecond. By step
    rather than by count (``Reader.points_after``) because the chart appends in ascending x: a
    point logged with a step at or before ``after_step`` (a loop that went back) shows on the
    next full read instead.
    """
    start = None if after_step == float("-inf") else int(after_step) + 1
    series = store.series(run_id, key, start)
    last = float(series.steps.max()) if len(series) else after_step
    return CurveData(run_id, key, series.steps.astype(np.float64), series.values, series.walls,
                     count=len(series), last_step=last)


def tails(store: Reader, marks: list[TailMark]) -> list[tuple[TailMark, CurveData]]:
    """The new points of each live curve, for the curves that have some."""
    out = [(mark, tail(store, *mark)) for mark in marks]
    return [(mark, data) for mark, data in out if len(data.steps)]


def histograms(store: Reader, run_id: str, key: str) -> list[HistogramPoint]:
    """Every histogram of a key, in step order."""
    return store.histograms(run_id, key)


def texts(store: Reader, run_id: str, key: str) -> list[TextPoint]:
    """Every text of a key, in step order."""
    return store.texts(run_id, key)


def graph(store: Reader, graph_id: int) -> Graph:
    """One graph with its nodes and edges."""
    return store.graph(graph_id)


def profile(store: Reader, profile_id: int) -> Profile:
    """One profile's op rows and step times (the raw trace stays in the store)."""
    return store.profile(profile_id, with_trace=False)


def image_keys(store: Reader, run_ids: list[str]) -> list[str]:
    """The image keys any of the runs logged, sorted."""
    return sorted({key for run_id in run_ids for key in store.image_keys(run_id)})


def image_key(store: Reader, run_ids: list[str], key: str,
              ) -> tuple[list[int], dict[str, EncodedImage | None]]:
    """The steps any of the runs has an image of ``key`` at (ascending), and each run's image at
    the last of them (one read for the tab's first drawing)."""
    steps = sorted({step for run_id in run_ids for step in store.image_steps(run_id, key)})
    return steps, images_at(store, run_ids, key, steps[-1]) if steps else {}


def images_at(store: Reader, run_ids: list[str], key: str, step: int,
              ) -> dict[str, EncodedImage | None]:
    """Each run's image of ``key`` at ``step`` (None where it has none)."""
    return {run_id: store.image(run_id, key, step) for run_id in run_ids}
