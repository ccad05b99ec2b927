"""Core logging/read benchmark: tracker beside a raw sqlite3 floor, tensorboardX,
torch.utils.tensorboard and trackio, measured in the same run, printed as medians and ratios.

    .venv/bin/pip install -c constraints.txt -e '.[all,bench]'
    .venv/bin/python benchmarks/bench_core.py [--repeat 3] [--quick] [--only W1,W2,SLOW,SQL,W3,MEM]

Every measurement runs in a fresh process (imports excluded from the timings, as in
shared/notes/peers-benchmark.md). --quick measures the slow peers (TensorBoard writers, trackio) on
W2 with 200k points instead of 1M and reports per-point figures for them. Disk per point is the
file size once the WAL is checkpointed (SQLite stores) or the event files' size (TensorBoard).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# ---------------------------------------------------------------------------------------------
# Workers: each runs in its own process and prints one JSON line.
# ---------------------------------------------------------------------------------------------
def _values(n: int, keys: int) -> list[dict[str, float]]:
    return [{f"m{j}": (i * 7 + j) * 0.001 for j in range(keys)} for i in range(n)]


def w1(tracker_name: str, n: int, work: Path) -> dict[str, Any]:
    """n steps x 5 float scalars: caller time per scalar and total with close."""
    data = _values(n, 5)
    open_, log, close = ADAPTERS[tracker_name]
    t0 = time.perf_counter()
    handle = open_(work, "w1")
    t1 = time.perf_counter()
    for i in range(n):
        log(handle, data[i], i)
    t2 = time.perf_counter()
    close(handle)
    t3 = time.perf_counter()
    scalars = n * 5
    return {"loop_us": (t2 - t1) / scalars * 1e6, "total_us": (t3 - t0) / scalars * 1e6}


def w2_write(tracker_name: str, n: int, work: Path) -> dict[str, Any]:
    """One series of n points."""
    values = [((i * 7919) % 1000) * 0.001 for i in range(n)]
    open_, log, close = ADAPTERS[tracker_name]
    t0 = time.perf_counter()
    handle = open_(work, "w2")
    for i in range(n):
        log(handle, {"loss": values[i]}, i)
    close(handle)
    t1 = time.perf_counter()
    return {"write_s": t1 - t0, "write_us_per_point": (t1 - t0) / n * 1e6,
            **DISK[tracker_name](work, n)}


def slow(tracker_name: str, n: int, work: Path) -> dict[str, Any]:
    """100 keys logged one point per flush, n steps (a long run logging many metrics slowly):
    the cost of a flush, disk per point, and reading all 100 series back."""
    import tracker
    import tracker.run.run  # noqa: F401

    keys = [f"metric/{j}" for j in range(100)]
    run = tracker.init("bench", name="slow", db=work / "tracker.db")
    flush_s = []
    for i in range(n):
        run.log({k: (i * 7 + j) * 0.001 for j, k in enumerate(keys)}, step=i)
        t0 = time.perf_counter()
        run.flush()
        flush_s.append(time.perf_counter() - t0)
    run.finish()
    disk = DISK["tracker"](work, n * len(keys))
    t0 = time.perf_counter()
    with tracker.open_store(work / "tracker.db") as store:
        rid = store.runs(last_values=False)[0].id
        assert all(len(store.series(rid, k)) == n for k in keys)
    return {"flush_ms": statistics.median(flush_s) * 1e3, **disk,
            "read_all_ms": (time.perf_counter() - t0) * 1e3}


def w2_read(tracker_name: str, n: int, work: Path) -> dict[str, Any]:
    """Read back the series written by w2_write (fresh process, warm page cache)."""
    return READERS[tracker_name](work, n)


def sql(tracker_name: str, n: int, work: Path) -> dict[str, Any]:
    """`tracker sql` over one series of n points: every point as CSV (a whole process), and
    the same rows fetched in-process."""
    import numpy as np

    import tracker
    import tracker.run.run  # noqa: F401
    from tracker.store.sqlite.user_sql import open_for_sql, run_query

    with tracker.init("bench", name="sql", db=work / "tracker.db") as run:
        run.log_series("loss", np.arange(n), np.arange(n) * 0.001)
    query = "SELECT step, value FROM metrics WHERE run = 'sql' AND key = 'loss'"
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "tracker.cli", "sql", "--csv", query, "--db",
                          str(work / "tracker.db")], capture_output=True, check=True)
    t1 = time.perf_counter()
    assert out.stdout.count(b"\n") == n + 1
    conn = open_for_sql(work / "tracker.db")
    t2 = time.perf_counter()
    rows = list(run_query(conn, query, work / "tracker.db")[1])
    t3 = time.perf_counter()
    assert len(rows) == n
    return {"csv_process_s": t1 - t0, "fetch_s": t3 - t2}


def w3(tracker_name: str, n: int, work: Path) -> dict[str, Any]:
    """200 runs x 3 keys x 100 steps: write; then list runs with last values (in-process)."""
    open_, log, close = ADAPTERS[tracker_name]
    t0 = time.perf_counter()
    for r in range(200):
        h = open_(work, f"w3-{r}")
        for s in range(100):
            log(h, {"loss": 1.0 / (s + 1), "acc": s / 100, "lr": 0.1}, s)
        close(h)
    return {"write_s": time.perf_counter() - t0}


def w3_list(tracker_name: str, n: int, work: Path) -> dict[str, Any]:
    return LISTERS[tracker_name](work)


def mem(tracker_name: str, n: int, work: Path) -> dict[str, Any]:
    """Peak RSS growth while logging n points (n/5 steps x 5 keys)."""
    import resource

    import tracker
    import tracker.run.run  # noqa: F401 - imports outside the measurement

    keys = [f"m{j}" for j in range(5)]
    run = tracker.init("mem", db=work / "mem.db")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    for i in range(n // 5):
        run.log({keys[0]: i * 0.5, keys[1]: 1.0, keys[2]: 2.0, keys[3]: 3.0, keys[4]: i * 0.25})
    run.finish()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rss_growth_mb": (peak - before) / 1024, "seconds": time.perf_counter() - t0}


# -- adapters: open(work, name) -> handle; log(handle, dict, step); close(handle) ---------------
def _ours() -> tuple:
    import tracker
    import tracker.run.run  # noqa: F401

    def open_(work: Path, name: str) -> Any:
        return tracker.init("bench", name=name, db=work / "tracker.db")

    return open_, lambda run, d, step: run.log(d, step=step), lambda run: run.finish()


def _floor() -> tuple:
    import sqlite3

    class Floor:
        def __init__(self, path: Path, name: str) -> None:
            self.conn = sqlite3.connect(path, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS points (run TEXT, key TEXT, step INTEGER, wall REAL,"
                " value REAL)"
            )
            self.conn.execute("CREATE INDEX IF NOT EXISTS points_i ON points(run, key, step)")
            self.name, self.rows = name, []

        def log(self, d: dict[str, float], step: int) -> None:
            wall = time.time()
            for k, v in d.items():
                self.rows.append((self.name, k, step, wall, v))
            if len(self.rows) >= 1000:
                self.flush()

        def flush(self) -> None:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO points VALUES (?, ?, ?, ?, ?)", self.rows)
            self.conn.execute("COMMIT")
            self.rows = []

        def close(self) -> None:
            if self.rows:
                self.flush()
            self.conn.close()

    return (lambda work, name: Floor(work / "floor.db", name), lambda f, d, s: f.log(d, s),
            lambda f: f.close())


def _tensorboard(module: str) -> tuple:
    if module == "tbx":
        from tensorboardX import SummaryWriter
    else:
        from torch.utils.tensorboard import SummaryWriter

    def log(writer: Any, d: dict[str, float], step: int) -> None:
        for k, v in d.items():
            writer.add_scalar(k, v, step)

    return (lambda work, name: SummaryWriter(str(work / module / name)), log,
            lambda w: w.close())


def _trackio() -> tuple:
    import trackio

    def open_(work: Path, name: str) -> Any:
        return trackio.init(project="bench", name=name)

    return open_, lambda run, d, step: trackio.log(d, step=step), lambda run: trackio.finish()


def _lazy(factory: Any) -> Any:
    cache: dict[str, Any] = {}

    def get() -> tuple:
        if "v" not in cache:
            cache["v"] = factory()
        return cache["v"]

    return get


class _Adapters(dict):
    FACTORIES = {
        "tracker": _ours,
        "floor": _floor,
        "tbx": lambda: _tensorboard("tbx"),
        "torch-tb": lambda: _tensorboard("torch"),
        "trackio": _trackio,
    }

    def __missing__(self, name: str) -> tuple:
        value = self.FACTORIES[name]()
        self[name] = value
        return value


ADAPTERS = _Adapters()


def _read_ours(work: Path, n: int) -> dict[str, Any]:
    import tracker
    import tracker.read  # noqa: F401
    import tracker.store.sqlite.read  # noqa: F401 - the backend's reader, loaded on first open

    t0 = time.perf_counter()
    store = tracker.open_store(work / "tracker.db")
    run = store.runs(last_values=False)[0]
    series = store.series(run.id, "loss")
    t1 = time.perf_counter()
    reduce_full = []
    reduce_sub = []
    for _ in range(5):
        a = time.perf_counter()
        store.reduced(run.id, "loss", 1000)
        b = time.perf_counter()
        store.reduced(run.id, "loss", 1000, n // 3, n // 3 + n // 5)
        c = time.perf_counter()
        reduce_full.append(b - a)
        reduce_sub.append(c - b)
    assert len(series) == n
    return {"read_s": t1 - t0, "reduce_full_ms": statistics.median(reduce_full) * 1e3,
            "reduce_sub_ms": statistics.median(reduce_sub) * 1e3}


def _read_floor(work: Path, n: int) -> dict[str, Any]:
    import sqlite3

    conn = sqlite3.connect(work / "floor.db")
    t0 = time.perf_counter()
    rows = conn.execute(
        "SELECT step, value FROM points WHERE run = 'w2' AND key = 'loss' ORDER BY step"
    ).fetchall()
    t1 = time.perf_counter()
    width = max(n // 1000, 1)
    conn.execute(
        "SELECT step / ?, min(value), max(value) FROM points WHERE run = 'w2' AND key = 'loss'"
        " GROUP BY step / ?", (width, width)
    ).fetchall()
    t2 = time.perf_counter()
    assert len(rows) == n
    return {"read_s": t1 - t0, "reduce_full_ms": (t2 - t1) * 1e3}


def _read_tb(module: str) -> Any:
    def read(work: Path, n: int) -> dict[str, Any]:
        import types

        sys.modules["tensorboard.compat.notf"] = types.ModuleType("notf")  # keep TF out
        from tensorboard.backend.event_processing import event_accumulator

        t0 = time.perf_counter()
        acc = event_accumulator.EventAccumulator(str(work / module / "w2"),
                                                 size_guidance={"scalars": 0})
        acc.Reload()
        points = acc.Scalars("loss")
        t1 = time.perf_counter()
        assert len(points) == n
        return {"read_s": t1 - t0}

    return read


READERS = {"tracker": _read_ours, "floor": _read_floor, "tbx": _read_tb("tbx")}


def _checkpointed_size(path: Path) -> int:
    """The SQLite file's size once its WAL is folded in (what it takes at rest)."""
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _disk_ours(work: Path, n: int) -> dict[str, Any]:
    """Our store's bytes per point, and those of TensorBoard's event file for the same points
    (written by `tracker export tensorboard`: float32 simple_value, as TensorBoard's writers)."""
    from tracker.store.sqlite import pool
    from tracker.tensorboard.export import export_tensorboard

    pool.close_all()
    size = _checkpointed_size(work / "tracker.db")
    export_tensorboard(work / "tb-export", db=work / "tracker.db")
    return {"bytes_per_point": size / n, "tb_bytes_per_point": _tree_size(work / "tb-export") / n}


DISK = {
    "tracker": _disk_ours,
    "floor": lambda work, n: {"bytes_per_point": _checkpointed_size(work / "floor.db") / n},
    "tbx": lambda work, n: {"bytes_per_point": _tree_size(work / "tbx") / n},
    "torch-tb": lambda work, n: {"bytes_per_point": _tree_size(work / "torch") / n},
    "trackio": lambda work, n: {"bytes_per_point": _tree_size(work / "trackio") / n},
}


def _list_ours(work: Path) -> dict[str, Any]:
    import tracker
    import tracker.read  # noqa: F401
    import tracker.store.sqlite.read  # noqa: F401 - the backend's reader, loaded on first open

    t0 = time.perf_counter()
    with tracker.open_store(work / "tracker.db") as store:
        runs = store.runs()
    t1 = time.perf_counter()
    assert len(runs) == 200 and all(r.last["acc"] == 0.99 for r in runs)
    return {"list_ms": (t1 - t0) * 1e3}


def _list_floor(work: Path) -> dict[str, Any]:
    import sqlite3

    conn = sqlite3.connect(work / "floor.db")
    t0 = time.perf_counter()
    rows = conn.execute(
        "SELECT run, key, value FROM points p WHERE step = (SELECT max(step) FROM points q"
        " WHERE q.run = p.run AND q.key = p.key)"
    ).fetchall()
    t1 = time.perf_counter()
    assert len(rows) == 600
    return {"list_ms": (t1 - t0) * 1e3}


LISTERS = {"tracker": _list_ours, "floor": _list_floor}
WORKLOADS = {"w1": w1, "w2_write": w2_write, "w2_read": w2_read, "slow": slow, "sql": sql,
             "w3": w3, "w3_list": w3_list, "mem": mem}


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------
def run_worker(workload: str, name: str, n: int, work: Path) -> dict[str, Any]:
    env = dict(os.environ, TRACKIO_DIR=str(work / "trackio"), HF_HUB_OFFLINE="1",
               DO_NOT_TRACK="1", GRADIO_ANALYTICS_ENABLED="False")
    out = subprocess.run(
        [sys.executable, str(HERE), "--worker", workload, name, str(n), str(work)],
        capture_output=True, text=True, env=env, timeout=1800,
    )
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1][:120]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(repeat: int, workload: str, name: str, n: int, prepare: Any = None) -> dict:
    results = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            work = Path(tmp)
            if prepare is not None:
                prep = run_worker(prepare, name, n, work)
                if "error" in prep:
                    return prep
            res = run_worker(workload, name, n, work)
            if "error" in res:
                return res
            results.append(res)
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def available(name: str) -> bool:
    module = {"tbx": "tensorboardX", "torch-tb": "torch", "trackio": "trackio"}.get(name)
    if module is None:
        return True
    import importlib.util

    return importlib.util.find_spec(module) is not None


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="W1,W2,SLOW,SQL,W3,MEM")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        workload, name, n, work = args.worker
        print(json.dumps(WORKLOADS[workload](name, int(n), Path(work))))
        return
    only = set(args.only.upper().split(","))
    peers = [p for p in ("floor", "tbx", "torch-tb", "trackio") if available(p)]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, repeat={args.repeat}, "
          f"peers: {', '.join(peers)}\n")
    if "W1" in only:
        print("## W1: 20,000 steps x 5 scalars (µs per scalar; ratio = peer / tracker)\n")
        print("| tracker | caller µs/scalar | total µs/scalar | total ratio |")
        print("|---|---|---|---|")
        ours = median_of(args.repeat, "w1", "tracker", 20_000)
        print(f"| **tracker** | {fmt(ours.get('loop_us'))} | {fmt(ours.get('total_us'))} | 1 |")
        for p in peers:
            r = median_of(args.repeat, "w1", p, 20_000)
            ratio = r["total_us"] / ours["total_us"] if "total_us" in r else None
            print(f"| {p} | {fmt(r.get('loop_us', r.get('error')))} | {fmt(r.get('total_us'))} |"
                  f" {fmt(ratio, 2)} |")
        print()
    if "W2" in only:
        n = 1_000_000
        print("## W2: one series of 1,000,000 points\n")
        print("| tracker | points | write s | µs/point | disk B/point | read all s |"
              " 1,000 buckets (all) ms | 1,000 buckets (sub-range) ms |")
        print("|---|---|---|---|---|---|---|---|")
        tb_export = None
        for name in ["tracker", *peers]:
            size = 200_000 if args.quick and name in ("tbx", "torch-tb", "trackio") else n
            reps = 1 if name in ("tbx", "torch-tb", "trackio") else args.repeat
            w = median_of(reps, "w2_write", name, size)
            r = (median_of(args.repeat, "w2_read", name, size, prepare="w2_write")
                 if name in READERS else {})
            tb_export = w.get("tb_bytes_per_point", tb_export)
            print(f"| {'**tracker**' if name == 'tracker' else name} | {size:,} |"
                  f" {fmt(w.get('write_s', w.get('error')))} | {fmt(w.get('write_us_per_point'))} |"
                  f" {fmt(w.get('bytes_per_point'))} |"
                  f" {fmt(r.get('read_s', r.get('error')))} | {fmt(r.get('reduce_full_ms'))} |"
                  f" {fmt(r.get('reduce_sub_ms'))} |")
        print(f"\nTensorBoard's event file for the same 1,000,000 points (`tracker export"
              f" tensorboard`, float32 as TensorBoard's writers): {fmt(tb_export)} B/point\n")
    if "SLOW" in only:
        steps = 2_000 if args.quick else 10_000
        r = median_of(args.repeat, "slow", "tracker", steps)
        print(f"## Many slow series: 100 keys x {steps:,} steps, one point per key per flush\n")
        print("| tracker | flush ms (100 keys) | disk B/point | read all 100 series ms |"
              " TensorBoard B/point (same points) |")
        print("|---|---|---|---|---|")
        print(f"| **tracker** | {fmt(r.get('flush_ms', r.get('error')))} |"
              f" {fmt(r.get('bytes_per_point'))} | {fmt(r.get('read_all_ms'))} |"
              f" {fmt(r.get('tb_bytes_per_point'))} |\n")
    if "SQL" in only:
        r = median_of(args.repeat, "sql", "tracker", 100_000)
        print(f"## `tracker sql` over a 100,000-point series (SELECT step, value FROM metrics)\n\n"
              f"every point as CSV, whole process: {fmt(r.get('csv_process_s', r.get('error')))} s;"
              f" the rows fetched in-process: {fmt(r.get('fetch_s'))} s\n")
    if "W3" in only:
        print("## W3: 200 runs x 3 keys x 100 steps\n")
        print("| tracker | write s | list runs + last values ms |")
        print("|---|---|---|")
        for name in ["tracker", *peers]:
            w = median_of(args.repeat, "w3", name, 0)
            r = median_of(args.repeat, "w3_list", name, 0, prepare="w3") if name in LISTERS else {}
            print(f"| {'**tracker**' if name == 'tracker' else name} |"
                  f" {fmt(w.get('write_s', w.get('error')))} | {fmt(r.get('list_ms'))} |")
        ls_times = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
                run_worker("w3", "tracker", 0, Path(tmp))
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "tracker.cli", "ls", "--db",
                                str(Path(tmp) / "tracker.db")], capture_output=True, check=True)
                ls_times.append(time.perf_counter() - t0)
        print(f"\n`tracker ls` on those 200 runs as a whole process: "
              f"{statistics.median(ls_times):.3f} s (median of {args.repeat})\n")
    if "MEM" in only:
        r = median_of(1, "mem", "tracker", 10_000_000)
        print(f"## Memory: peak RSS growth while logging 10,000,000 points (2M steps x 5 keys): "
              f"{fmt(r.get('rss_growth_mb', r.get('error')))} MB in {fmt(r.get('seconds'))} s\n")


if __name__ == "__main__":
    main()
