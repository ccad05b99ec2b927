"""App benchmark: start to first paint, sorting/scrolling 10k runs, opening a 5 x 1M chart, live CPU.

Run: `python benchmarks/bench_tui.py` (stores are built once under --dir, default
/tmp/tracker-bench-tui; `--peers` also times TensorBoard serving the same 1,000 runs). Each figure
is the median of --repeat runs (default 3). Targets (issue 6): first paint of 1,000 runs <= 0.8 s
as a whole process, 10,000 runs <= 2 s; a 5 x 1M-point chart <= 100 ms from keypress to drawn
frame; a 4 Hz live tick < 10% of one core.

First paint and live CPU run the real `tracker` app in a pseudo-terminal (200x50), so terminal
output is included; sorting, scrolling and chart opening drive the app headless with Pilot.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tracker  # noqa: E402

SIZE = (200, 50)
BIG_RUNS, BIG_POINTS = 5, 1_000_000

# The child app: records when the runs table has been painted (and, with a chart, its live CPU).
CHILD = r"""
import sys, time
from tracker.tui.app import make_app
from tracker.tui.screens.runs import RunsScreen
db, marker, mode = sys.argv[1], sys.argv[2], sys.argv[3]
original = RunsScreen.on_runs_loaded

def hooked(self, message):
    first = not self.loaded
    original(self, message)
    if not first:
        return
    if mode == "paint":
        first = []
        def painted():
            first.extend((time.time(), time.process_time()))
            self.set_interval(0.01, complete)
        def complete():  # every row in the table (they stream in after the first paint)
            if self.table.pending_count == 0:
                open(marker, "w").write(repr((*first, time.time(), time.process_time())))
                self.app.exit()
        self.call_after_refresh(painted)
    else:
        self.action_select_all()
        self.action_compare()
        def measure_start():
            self.app._cpu0 = (time.process_time(), time.perf_counter())
            self.set_timer(float(mode), measure_end)
        def measure_end():
            cpu0, wall0 = self.app._cpu0
            open(marker, "w").write(repr((time.process_time() - cpu0) / (time.perf_counter() - wall0)))
            self.app.exit()
        self.set_timer(3.0, measure_start)  # the chart is open and tailing by then

RunsScreen.on_runs_loaded = hooked
make_app(db, live=(mode != "paint")).run()
"""

# A trainer that keeps BIG_RUNS runs of BIG_POINTS points running and logs 25 points per run
# every 0.25 s (100 points/s per run) until its stdin closes.
TRAINER = r"""
import sys, time, select
import numpy as np
import tracker
db, runs, points = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
live = []
for i in range(runs):
    run = tracker.init("live", f"live-{i}", db=db)
    steps = np.arange(points)
    run.log_series("loss", steps, np.exp(-steps / 2e5) + 0.05 * np.random.default_rng(i).standard_normal(points))
    live.append(run)
for run in live:
    run.flush()
print("ready", flush=True)
step = points
while not select.select([sys.stdin], [], [], 0.25)[0]:
    for run in live:
        run.log_series("loss", np.arange(step, step + 25), np.random.rand(25) * 0.1)
    step += 25
for run in live:
    run.finish()
"""


# -- stores -------------------------------------------------------------------------------------
def seed_runs(path: Path, count: int) -> Path:
    """``count`` finished runs with 3 keys x 100 steps and a small config (built once)."""
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    steps = np.arange(100)
    for i in range(count):
        config = {"lr": float(10 ** -(1 + i % 4)), "batch_size": 32 << (i % 3),
                  "optim": {"name": ("adam", "sgd")[i % 2]}, "layers": [64, 32 + i % 5]}
        with tracker.init(f"p{i % 5}", f"run-{i}", config, tags=["baseline"] if i % 7 == 0 else [],
                          group=f"sweep-{i % 20}", db=path) as run:
            loss = np.exp(-steps / (20 + i % 50)) + 0.01 * rng.standard_normal(100)
            run.log_series("train/loss", steps, loss)
            run.log_series("train/acc", steps, 1 - loss / 2)
            run.log_series("val/loss", steps[::10], loss[::10] * 1.1)
    return path


def seed_big(path: Path) -> Path:
    """BIG_RUNS finished runs of BIG_POINTS points of one key."""
    if path.exists():
        return path
    for i in range(BIG_RUNS):
        with tracker.init("big", f"big-{i}", db=path) as run:
            steps = np.arange(BIG_POINTS)
            rng = np.random.default_rng(i)
            run.log_series("loss", steps, np.exp(-steps / 2e5) + 0.05 * rng.standard_normal(
                BIG_POINTS))
    return path


# -- whole-process measurements in a pseudo-terminal -------------------------------------------
def in_pty(db: Path, mode: str) -> tuple[float, float, float]:
    """Run the app in a 200x50 pty.

    Returns (wall seconds from spawn to first paint, CPU seconds used until then, wall seconds
    until every row is in the table) for mode 'paint', else (share of a core used while the
    live chart ran, 0, 0).
    """
    with tempfile.TemporaryDirectory() as tmp:
        marker = Path(tmp) / "marker"
        started = time.time()
        pid, fd = pty.fork()
        if pid == 0:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
            os.environ["TERM"] = "xterm-256color"
            os.execv(sys.executable, [sys.executable, "-c", CHILD, str(db), str(marker), mode])
        out = 0
        while True:  # drain the terminal output like a terminal would
            ready, _, _ = select.select([fd], [], [], 60)
            if not ready:
                os.kill(pid, 9)
                raise RuntimeError("the app did not finish")
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += len(chunk)
        os.waitpid(pid, 0)
        os.close(fd)
        value = eval(marker.read_text())  # noqa: S307 (our own child wrote it)
        if mode == "paint":
            return value[0] - started, value[1], value[2] - started
        return float(value), 0.0, 0.0


def live_cpu(db: Path, seconds: float) -> float:
    """Share of one core the app uses with a 5 x 1M chart open on runs that log 100 points/s."""
    trainer = subprocess.Popen([sys.executable, "-c", TRAINER, str(db), str(BIG_RUNS),
                                str(BIG_POINTS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    try:
        assert trainer.stdout is not None and trainer.stdout.readline().strip() == "ready"
        return in_pty(db, str(seconds))[0]
    finally:
        assert trainer.stdin is not None
        trainer.stdin.close()
        trainer.wait(60)


# -- headless measurements with Pilot ----------------------------------------------------------
async def sort_and_scroll(db: Path) -> dict[str, float]:
    """Milliseconds per sort (3 columns) and per scroll (end, home, page down) on every run."""
    from tracker.tui.app import make_app
    from tracker.tui.screens.runs import RunsScreen

    app = make_app(db, live=False)
    out: dict[str, list[float]] = {"sort": [], "scroll": []}
    async with app.run_test(size=SIZE) as pilot:
        while not (isinstance(app.screen, RunsScreen) and app.screen.loaded):
            await pilot.pause(0.05)
        table = app.screen.table
        while table.pending_count:  # every row in the table first
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause(0.5)
        for column in ("name", "step", "metric:train/loss", "name"):
            started = time.perf_counter()
            table.sort_by(column)
            await pilot.pause()
            out["sort"].append(time.perf_counter() - started)
        for key in ("end", "home", "pagedown", "pagedown", "end"):
            started = time.perf_counter()
            await pilot.press(key)
            out["scroll"].append(time.perf_counter() - started)
    return {k: 1000 * statistics.median(v) for k, v in out.items()}


async def chart_open(db: Path) -> tuple[float, float]:
    """Milliseconds from a keypress to the first frame of the 5-run chart: (opening the compare
    screen with 'c', showing the chart again from the metric picker on that screen)."""
    from tracker.tui.app import make_app
    from tracker.tui.screens.runs import RunsScreen
    from tracker.tui.widgets.chart import LineChart

    drawn: list[float] = []
    original = LineChart.render_line

    def timed(self, y):  # type: ignore[no-untyped-def]
        strip = original(self, y)
        if len(self.series_names) == BIG_RUNS and y == self.size.height - 1 and not drawn:
            drawn.append(time.perf_counter())
        return strip

    LineChart.render_line = timed  # type: ignore[method-assign]
    try:
        app = make_app(db, live=False)
        async with app.run_test(size=SIZE) as pilot:
            while not (isinstance(app.screen, RunsScreen) and app.screen.loaded):
                await pilot.pause(0.05)
            await pilot.press("a")
            started = time.perf_counter()
            await pilot.press("c")
            while not drawn:
                await pilot.pause(0)
            screen_open = 1000 * (drawn[0] - started)
            await app.workers.wait_for_complete()
            await pilot.pause(0.3)
            await pilot.press("p", "enter", "enter")  # to the picker, its first key: hide the chart
            while app.screen.query(LineChart):
                await pilot.pause(0)
            await pilot.pause(0.3)
            drawn.clear()
            started = time.perf_counter()
            await pilot.press("enter")  # and show it again: a fresh read and a first frame
            while not drawn:
                await pilot.pause(0)
            return screen_open, 1000 * (drawn[0] - started)
    finally:
        LineChart.render_line = original  # type: ignore[method-assign]


# -- peer: TensorBoard serving the same runs ---------------------------------------------------
def tensorboard_first_list(db: Path, logdir: Path) -> float:
    """Seconds from starting `tensorboard --logdir` until it lists every exported run's scalars."""
    import json
    import socket
    import urllib.request

    if not logdir.exists():
        tracker.export_tensorboard(logdir, db=db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    want = len(tracker.open_store(db).runs())
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                             "--port", str(port), "--host", "127.0.0.1", "--reload_interval", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.time() - started < 300:
            try:
                url = f"http://127.0.0.1:{port}/data/plugin/scalars/tags"
                with urllib.request.urlopen(url, timeout=2) as response:
                    if len(json.load(response)) >= want:
                        return time.time() - started
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("TensorBoard did not list the runs within 300 s")
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/tracker-bench-tui")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--live-seconds", type=float, default=10.0)
    parser.add_argument("--peers", action="store_true", help="also time TensorBoard (slow)")
    args = parser.parse_args()
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    print(f"building stores under {root} (first time only)...", flush=True)
    runs1k = seed_runs(root / "runs1k.db", 1_000)
    runs10k = seed_runs(root / "runs10k.db", 10_000)
    big = seed_big(root / "big.db")
    rep = range(args.repeat)

    def med(values: list[float]) -> float:
        return statistics.median(values)

    paints1k = [in_pty(runs1k, "paint") for _ in rep]
    paints10k = [in_pty(runs10k, "paint") for _ in rep]
    paint1k, cpu1k = med([p[0] for p in paints1k]), med([p[1] for p in paints1k])
    paint10k, cpu10k = med([p[0] for p in paints10k]), med([p[1] for p in paints10k])
    all10k = med([p[2] for p in paints10k])
    scroll = [asyncio.run(sort_and_scroll(runs10k)) for _ in rep]
    charts = [asyncio.run(chart_open(big)) for _ in rep]
    chart, chart_picker = med([c[0] for c in charts]), med([c[1] for c in charts])
    cpu = med([live_cpu(root / f"live{i}.db", args.live_seconds) for i in rep])
    for i in rep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{root / f'live{i}.db'}{suffix}").unlink(missing_ok=True)

    load = os.getloadavg()[0]
    print(f"\nmedians of {args.repeat} runs, {SIZE[0]}x{SIZE[1]} terminal, "
          f"{os.cpu_count()} cores, load average {load:.1f} at the end")
    print(f"{'measure':<44}{'ours':>10}{'target':>10}{'ratio':>8}")
    rows = [
        ("start to first paint, 1,000 runs (s)", paint1k, 0.8),
        ("  CPU used until then (s)", cpu1k, 0.8),
        ("start to first paint, 10,000 runs (s)", paint10k, 2.0),
        ("  CPU used until then (s)", cpu10k, 2.0),
        ("  all 10,000 rows in the table (s)", all10k, 2.0),
        ("sort 10,000 rows (ms)", med([s["sort"] for s in scroll]), 100.0),
        ("scroll 10,000 rows: end/home/page (ms)", med([s["scroll"] for s in scroll]), 100.0),
        ("open compare screen + chart, 5 x 1M (ms)", chart, 100.0),
        ("open chart from picker, 5 x 1M (ms)", chart_picker, 100.0),
        ("live 4 Hz tick, 5 x 1M chart (% of a core)", 100 * cpu, 10.0),
    ]
    for label, ours, target in rows:
        print(f"{label:<44}{ours:>10.3g}{target:>10.3g}{ours / target:>8.2f}")
    if args.peers:
        tb = tensorboard_first_list(runs1k, root / "tb-logdir-1k")
        print(f"\npeer: TensorBoard lists 1,000 runs' scalars after {tb:.2f} s; "
              f"ours first paint {paint1k:.2f} s (ratio ours/TB {paint1k / tb:.2f})")


if __name__ == "__main__":
    main()
