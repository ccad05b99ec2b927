"""The PostgreSQL store beside the SQLite store, measured in the same run (medians of --repeat):
W1 caller and total cost per scalar (20,000 steps x 5 scalars, as bench_core; and a burst ten times
as long, 1M points in a third of a second, past the buffer's bound where log() waits for the
writer on either store), N processes x M points into one store, read 1M points,
list 1,000 runs with their last values, the app's first paint on 10,000 runs, `tracker sync` of
10M points from a SQLite store (into PostgreSQL; into another SQLite file beside it).

    .venv/bin/python benchmarks/bench_postgres.py [--url postgresql://...] [--repeat 3] [--quick]
    .venv/bin/python benchmarks/bench_postgres.py --paint-only --repeat 7 --app-db /tmp/app10k.db

Without --url a throwaway server is started on this box (tests/pg_server.py: fsync off, as a
test server; a production server with fsync on commits slower). Each figure's stores are fresh
(a new file, a new database). The 10,000-run and 10M-point sources are built once per invocation.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


W1_STEPS = 20_000  # W1 as bench_core defines it: 20,000 steps x 5 scalars


def w1(db: str, steps: int) -> tuple[float, float]:
    """steps x 5 scalars: caller µs/scalar, total µs/scalar (init to finish)."""
    import tracker

    t0 = time.perf_counter()
    run = tracker.init("bench", db=db, system=False, console=False)  # as bench_core's W1
    t1 = time.perf_counter()
    for i in range(steps):
        run.log({"a": i * 1e-3, "b": 1.0, "c": 2.0, "d": 3.0, "e": 4.0}, step=i)
    t2 = time.perf_counter()
    run.finish()
    t3 = time.perf_counter()
    n = steps * 5
    return (t2 - t1) / n * 1e6, (t3 - t0) / n * 1e6


def _writer(args: tuple[str, int]) -> int:
    db, points = args
    import tracker

    run = tracker.init("many", db=db)
    values = np.sin(np.arange(points) * 1e-3)
    for i in range(0, points, 1000):  # 1,000 steps of one key per log_many-like burst
        for j in range(i, min(points, i + 1000)):
            run.log({"loss": float(values[j])}, step=j)
    run.finish()
    return 0 if run.id else 1


def many(db: str, procs: int, points: int) -> float:
    """procs processes x points each into one store: aggregate points/s (start to last finish)."""
    with mp.get_context("spawn").Pool(procs) as pool:
        pool.map(_writer, [(db, 10)] * procs)  # imports and the schema, outside the timing
        t = time.perf_counter()
        errors = sum(pool.map(_writer, [(db, points)] * procs))
        took = time.perf_counter() - t
    assert errors == 0
    return procs * points / took


def read_1m(db: str, points: int) -> float:
    import tracker

    run = tracker.init("read", db=db)
    values = np.sin(np.arange(points) * 1e-3)
    for i in range(points):
        run.log({"x": float(values[i])}, step=i)
    run.finish()
    times = []
    for _ in range(3):
        with tracker.open_store(db) as store:
            t = time.perf_counter()
            s = store.series(run.id, "x")
            times.append(time.perf_counter() - t)
        assert len(s) == points
    return min(times)


def list_runs(db: str, runs: int) -> float:
    import tracker

    for i in range(runs):
        with tracker.init("list", db=db, name=f"r{i}") as run:
            run.log({"loss": 1.0 / (i + 1), "acc": 0.5}, step=0)
    times = []
    for _ in range(3):
        with tracker.open_store(db) as store:
            t = time.perf_counter()
            got = store.runs(project="list")
            times.append(time.perf_counter() - t)
        assert len(got) == runs
    return min(times)


def seed_points(path: Path, runs: int, points: int) -> Path:
    """A SQLite store of ``runs`` finished runs of ``points`` points of one key (written through
    the backend: the source of the sync figure)."""
    from tracker.store import open_backend
    from tracker.store.backend import FinalStatus, NewRun, SeriesPoints, WriteBatch

    steps = np.arange(points, dtype=np.int64)
    for i in range(runs):
        w = open_backend(path, mode="write")  # a write handle is one run's
        run_id = f"sync{i:04d}"
        w.create_run(NewRun(run_id, "sync", f"s{i}", None, {"i": i}, [], None, "h", 1, None,
                            None, None, 1000.0 + i))
        for a in range(0, points, 1_000_000):
            part = steps[a:a + 1_000_000]
            w.write(run_id, WriteBatch(points=[SeriesPoints(
                "loss", part, 1.7e9 + part * 1e-3, np.sin(part * 1e-4))]), now=1.0)
        w.write(run_id, WriteBatch(), final=FinalStatus("finished", 2000.0), now=2.0)
        w.close()
    return path


def sync_rate(src: Path, dest: str, points: int) -> float:
    """`tracker sync` of the whole source into an empty store: points/s (whole copy)."""
    from tracker.sync import sync

    t = time.perf_counter()
    result = sync(src, dest)
    took = time.perf_counter() - t
    assert result.points == points, result
    return points / took


def first_paint(db: str) -> float:
    """The real app in a pseudo-terminal: seconds from spawn to the runs table painted."""
    from benchmarks.bench_tui import in_pty

    return in_pty(db, "paint")[0]  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (per-point figures)")
    ap.add_argument("--paint-only", action="store_true",
                    help="only the app's first paint (both backends, interleaved)")
    ap.add_argument("--app-db", type=Path,
                    help="the 10,000-run SQLite store for the first paint: built there if missing,"
                         " reused if there (else a fresh one per invocation)")
    opts = ap.parse_args()
    steps = 40_000 if opts.quick else 200_000  # the long burst: past the buffer's bound
    procs, per_proc = 8, (50_000 if opts.quick else 1_000_000)
    points = 200_000 if opts.quick else 1_000_000
    nruns = 200 if opts.quick else 1_000
    nruns_app = 1_000 if opts.quick else 10_000
    sync_runs, sync_points = (2, 1_000_000) if opts.quick else (10, 1_000_000)
    server = None
    if opts.url is None:
        from tests import pg_server

        server = pg_server.start_server()
    results: dict[str, dict[str, list[float]]] = {"sqlite": {}, "postgres": {}}
    try:
        from benchmarks.bench_tui import seed_runs
        from tracker.sync import sync

        scratch = Path(tempfile.mkdtemp())
        app_sqlite = str(seed_runs(opts.app_db or scratch / "app.db", nruns_app))
        app_postgres = opts.url if opts.url else server.create_database()  # type: ignore[union-attr]
        sync(app_sqlite, app_postgres)  # the same 10,000 runs on the server
        if not opts.paint_only:
            sync_src = seed_points(scratch / "sync-src.db", sync_runs, sync_points)
        total_sync = sync_runs * sync_points
        for _ in range(opts.repeat):
            for backend in ("sqlite", "postgres"):
                def fresh(backend: str = backend) -> str:
                    if backend == "sqlite":
                        return str(Path(tempfile.mkdtemp()) / "bench.db")
                    return opts.url if opts.url else server.create_database()  # type: ignore[union-attr]

                r = results[backend]
                if opts.paint_only:
                    r.setdefault(f"app first paint {nruns_app:,} runs s", []).append(
                        first_paint(app_sqlite if backend == "sqlite" else app_postgres))
                    continue
                caller, total = w1(fresh(), W1_STEPS)
                r.setdefault("W1 caller µs/scalar", []).append(caller)
                r.setdefault("W1 total µs/scalar", []).append(total)
                caller, total = w1(fresh(), steps)
                r.setdefault(f"W1 x{steps // W1_STEPS} caller µs/scalar", []).append(caller)
                r.setdefault(f"W1 x{steps // W1_STEPS} total µs/scalar", []).append(total)
                r.setdefault(f"{procs} procs x {per_proc:,} pts/s", []).append(
                    many(fresh(), procs, per_proc))
                r.setdefault(f"read {points:,} points s", []).append(read_1m(fresh(), points))
                r.setdefault(f"list {nruns:,} runs ms", []).append(list_runs(fresh(), nruns) * 1e3)
                r.setdefault(f"app first paint {nruns_app:,} runs s", []).append(
                    first_paint(app_sqlite if backend == "sqlite" else app_postgres))
                r.setdefault(f"sync {total_sync / 1e6:g}M points from SQLite pts/s", []).append(
                    sync_rate(sync_src, fresh(), total_sync))
    finally:
        if server is not None:
            from tests import pg_server

            pg_server.remove(server)
    print(f"{'measure (median of ' + str(opts.repeat) + ')':34s} {'sqlite':>12s} {'postgres':>12s} {'pg/sqlite':>9s}")
    for name in results["sqlite"]:
        a = statistics.median(results["sqlite"][name])
        b = statistics.median(results["postgres"][name])
        print(f"{name:34s} {a:12,.3f} {b:12,.3f} {b / a:9.2f}")


if __name__ == "__main__":
    main()
