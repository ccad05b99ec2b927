"""Chart benchmark: opening a 5 x 1M-point chart and a 4 Hz live tick, ours beside textual-plot.

Run: `python benchmarks/bench_chart.py` (add `--peer-raw-1m` to feed textual-plot the full 5 x 1M
raw points too; that alone takes ~20 s). Targets (issue 6): keypress -> drawn frame <= 100 ms for
5 runs x 1M points; a 4 Hz live tick < 10% of one core. Run it 3 times and quote the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widget import Widget

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tracker  # noqa: E402
from tracker.tui.widgets.chart import ChartSeries, LineChart  # noqa: E402
from tracker.tui.widgets.chart.raster import reduce_columns  # noqa: E402

RUNS, POINTS, TICK_POINTS, TICKS, REPEATS = 5, 1_000_000, 100, 40, 5
SIZE = (120, 40)


def make_data(n: int, runs: int = RUNS) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    x = np.arange(n, dtype=np.float64)
    return [(x, 2.5 * np.exp(-x / (n / (4 + i))) + 0.1 + rng.normal(0, 0.05, n))
            for i in range(runs)]


class TimedChart(LineChart):
    """Our chart, noting when the last line of a frame was handed to the compositor."""

    drawn_at = 0.0

    def render_line(self, y: int):  # type: ignore[no-untyped-def]
        strip = super().render_line(y)
        if y == self.size.height - 1:
            self.drawn_at = time.perf_counter()
        return strip


class BenchApp(App[None]):
    BINDINGS = [Binding("o", "open", "open"), Binding("n", "noop", "noop")]

    def __init__(self, widget: Widget, opener: Callable[[], None]) -> None:
        super().__init__()
        self.widget, self.opener, self.pressed_at = widget, opener, 0.0

    def compose(self) -> ComposeResult:
        yield self.widget

    def action_open(self) -> None:
        self.pressed_at = time.perf_counter()
        self.opener()

    def action_noop(self) -> None:
        self.pressed_at = time.perf_counter()


async def time_open(make_widget: Callable[[], Widget], fill: Callable[[Widget], None],
                    repeats: int = REPEATS) -> dict[str, float]:
    """Keypress -> the app idle again with the frame drawn (median ms over fresh apps)."""
    idle, drawn = [], []
    for _ in range(repeats):
        widget = make_widget()
        app = BenchApp(widget, lambda w=widget: fill(w))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("o")
            await pilot.pause()
            idle.append((time.perf_counter() - app.pressed_at) * 1e3)
            if isinstance(widget, TimedChart):
                drawn.append((widget.drawn_at - app.pressed_at) * 1e3)
    out = {"idle_ms": statistics.median(idle)}
    if drawn:
        out["drawn_ms"] = statistics.median(drawn)
    return out


async def time_action(fill: Callable[[Widget], None], act: Callable[[LineChart], None]) -> float:
    """Our chart already showing the data: keypress running `act` -> last line drawn (ms)."""
    drawn = []
    for _ in range(REPEATS):
        widget = TimedChart(title="loss")
        app = BenchApp(widget, lambda w=widget: act(w))
        async with app.run_test(size=SIZE) as pilot:
            fill(widget)
            await pilot.pause()
            await pilot.press("o")
            await pilot.pause()
            drawn.append((widget.drawn_at - app.pressed_at) * 1e3)
    return statistics.median(drawn)


async def time_noop() -> float:
    """What a keypress costs the headless harness with no work behind it."""
    times = []
    app = BenchApp(Widget(), lambda: None)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(REPEATS):
            await pilot.press("n")
            await pilot.pause()
            times.append((time.perf_counter() - app.pressed_at) * 1e3)
    return statistics.median(times)


async def time_ticks(make_widget: Callable[[], Widget], fill: Callable[[Widget], None],
                     tick: Callable[[Widget, int], None]) -> float:
    """Process CPU ms per live tick (append + redraw), median of 3 blocks of TICKS ticks."""
    widget = make_widget()
    app = BenchApp(widget, lambda: fill(widget))
    blocks = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("o")
        await pilot.pause()
        k = 0
        for _ in range(3):
            c0 = time.process_time()
            for _ in range(TICKS):
                tick(widget, k)
                k += 1
                await pilot.pause()
            blocks.append((time.process_time() - c0) * 1e3 / TICKS)
    return statistics.median(blocks)


def minmax_reduce(x: np.ndarray, y: np.ndarray, width_px: int) -> tuple[np.ndarray, np.ndarray]:
    """The best way to feed textual-plot: 2 points per braille column (min and max)."""
    lo, hi = reduce_columns(x, y, y, y, np.zeros(0, np.int64), x[0], x[-1], width_px)
    xs = np.linspace(x[0], x[-1], width_px)
    return np.repeat(xs, 2), np.column_stack([lo, hi]).ravel()


def store_with_runs(path: Path, data: list[tuple[np.ndarray, np.ndarray]]) -> list[str]:
    ids = []
    for i, (x, y) in enumerate(data):
        run = tracker.init("bench", name=f"run-{i}", db=path)
        run.log_series("loss", x.astype(np.int64), y)
        run.finish()
        ids.append(run.id)
    return ids


def tail_slice(tail: list[tuple[np.ndarray, np.ndarray]], i: int, k: int
               ) -> tuple[np.ndarray, np.ndarray]:
    x, y = tail[i]
    return x[k * TICK_POINTS:(k + 1) * TICK_POINTS], y[k * TICK_POINTS:(k + 1) * TICK_POINTS]


def chart_filler(series: list[ChartSeries]) -> Callable[[Widget], None]:
    def fill(w: Widget) -> None:
        assert isinstance(w, LineChart)
        w.set_series(series)
    return fill


def as_series(data: list[tuple[np.ndarray, np.ndarray]], n: int | None = None) -> list[ChartSeries]:
    return [ChartSeries(f"run-{i}", x[:n], y[:n], color=i) for i, (x, y) in enumerate(data)]


async def ours(data, tail) -> list[tuple[str, float, str]]:
    rows = [("harness: keypress with no work -> idle", await time_noop(), "ms")]
    opened = await time_open(lambda: TimedChart(title="loss"), chart_filler(as_series(data)))
    rows.append(("ours: 5 x 1M raw, keypress -> last line drawn", opened["drawn_ms"], "ms"))
    rows.append(("ours: 5 x 1M raw, keypress -> app idle", opened["idle_ms"], "ms"))
    fill = chart_filler(as_series(data))
    rows.append(("ours: 5 x 1M, zoom key -> drawn", await time_action(fill, lambda w: w.zoom(2)),
                 "ms"))
    rows.append(("ours: 5 x 1M, crosshair key -> drawn",
                 await time_action(fill, lambda w: w.action_cursor(1)), "ms"))
    rows.append(("ours: 5 x 1M, smoothing key (EMA of 5M points) -> drawn",
                 await time_action(fill, lambda w: w.action_smooth(1)), "ms"))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        ids = store_with_runs(db, data)
        store = tracker.open_store(db)
        reads = []
        for _ in range(REPEATS):
            t = time.perf_counter()
            reduced = [store.reduced(rid, "loss", 1000) for rid in ids]
            reads.append((time.perf_counter() - t) * 1e3)
        store.close()
    series = [ChartSeries(f"run-{i}", (r.edges[:-1] + r.edges[1:]) / 2, r.means, r.mins, r.maxs,
                          color=i) for i, r in enumerate(reduced)]
    red = await time_open(lambda: TimedChart(title="loss"), chart_filler(series))
    read_ms = statistics.median(reads)
    rows.append(("store: reduced() 5 x 1M -> 1000 buckets", read_ms, "ms"))
    rows.append(("ours: 5 x 1000 buckets, keypress -> last line drawn", red["drawn_ms"], "ms"))
    rows.append(("app path: reduced() reads + drawn frame", read_ms + red["drawn_ms"], "ms"))

    def tick(w: Widget, k: int) -> None:
        assert isinstance(w, LineChart)
        for i in range(RUNS):
            w.append_points(f"run-{i}", *tail_slice(tail, i, k))

    cpu = await time_ticks(lambda: LineChart(title="loss"), chart_filler(as_series(data)), tick)
    rows.append(("ours: live tick (5 x +100 pts on 1M) CPU", cpu, "ms"))
    rows.append(("ours: live tick at 4 Hz, share of one core", cpu * 4 / 10, "%"))
    return rows


async def peer(data, tail, raw_points: int, ours_rows) -> list[tuple[str, float, str, float]]:
    """textual-plot (the spike's runner-up) on the same data, and our figure it compares to."""
    try:
        from textual_plot import HiResMode, PlotWidget
    except ImportError:
        return []
    width_px = 2 * (SIZE[0] - 10)
    mine = {name: value for name, value, _ in ours_rows}

    def plot_all(w: Widget, pairs) -> None:
        assert isinstance(w, PlotWidget)
        w.clear()
        for x, y in pairs:
            w.plot(x, y, hires_mode=HiResMode.BRAILLE)

    def fill_raw(w: Widget) -> None:
        plot_all(w, [(x[:raw_points], y[:raw_points]) for x, y in data])

    def fill_reduced(w: Widget) -> None:
        plot_all(w, [minmax_reduce(x, y, width_px) for x, y in data])

    grown = list(data)

    def tick(w: Widget, k: int) -> None:  # textual-plot has no append: grow, re-reduce, replot
        for i in range(RUNS):
            tx, ty = tail_slice(tail, i, k)
            grown[i] = (np.r_[grown[i][0], tx], np.r_[grown[i][1], ty])
        plot_all(w, [minmax_reduce(x, y, width_px) for x, y in grown])

    raw = await time_open(PlotWidget, fill_raw, repeats=1 if raw_points >= POINTS else 3)
    ours_raw = await time_open(lambda: TimedChart(), chart_filler(as_series(data, raw_points)))
    red = await time_open(PlotWidget, fill_reduced)
    cpu = await time_ticks(PlotWidget, fill_reduced, tick)
    return [
        (f"textual-plot: 5 x {raw_points:,} raw, keypress -> idle", raw["idle_ms"], "ms",
         ours_raw["idle_ms"]),
        ("textual-plot: 5 x 1M min/max-reduced by us, keypress -> idle", red["idle_ms"], "ms",
         mine["ours: 5 x 1M raw, keypress -> app idle"]),
        ("textual-plot: live tick (append, re-reduce, replot) CPU", cpu, "ms",
         mine["ours: live tick (5 x +100 pts on 1M) CPU"]),
    ]


async def main(args: argparse.Namespace) -> None:
    data = make_data(POINTS)
    tail = [(np.arange(POINTS, POINTS + TICK_POINTS * 400, dtype=np.float64),
             np.full(TICK_POINTS * 400, 0.1)) for _ in range(RUNS)]
    rows = await ours(data, tail)
    peers = await peer(data, tail, POINTS if args.peer_raw_1m else 100_000, rows)
    print(f"\nchart benchmark, {RUNS} runs x {POINTS:,} points, terminal {SIZE[0]}x{SIZE[1]}, "
          f"medians of {REPEATS} opens / 3 blocks of {TICKS} ticks\n")
    for name, value, unit in rows:
        print(f"  {name:<60} {value:8.1f} {unit}")
    print()
    for name, value, unit, mine in peers:
        print(f"  {name:<60} {value:8.1f} {unit}  (ours {mine:.1f}: x{value / mine:.1f})")
    if not peers:
        print("  textual-plot is not installed (pip install textual-plot): no peer figures")
    print("\n  targets: keypress -> drawn frame <= 100 ms; live tick at 4 Hz < 10% of one core")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-raw-1m", action="store_true",
                        help="give textual-plot the full 5 x 1M raw points too (over a minute)")
    asyncio.run(main(parser.parse_args()))
