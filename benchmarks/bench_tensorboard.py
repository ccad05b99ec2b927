"""TensorBoard export/import of 1,000,000 scalars (10 keys x 100k steps) against the peers.

Targets (issue 7): export <= 1.5 s (torch.utils.tensorboard writing the same live: ~30 s,
tensorboardX ~28 s); import of that export <= 3 s (EventAccumulator: ~11 s for 1M points).
Peers run in fresh subprocesses; their import time is left out, only writing/reading is timed.

Usage: python benchmarks/bench_tensorboard.py [--repeat 3] [--steps 100000] [--keys 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import tracker

_PEER_WRITE = """
import sys, time
kind, logdir, steps, keys = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if kind == "torch":
    import torch
    torch.set_num_threads(1)
    from torch.utils.tensorboard import SummaryWriter
else:
    from tensorboardX import SummaryWriter
tags = [f"train/key{k}" for k in range(keys)]
values = [[(i * 7 + k) % 1000 / 1000.0 for k in range(keys)] for i in range(steps)]
w = SummaryWriter(logdir)
t = time.perf_counter()
for i in range(steps):
    row = values[i]
    for k in range(keys):
        w.add_scalar(tags[k], row[k], i)
w.close()
print(time.perf_counter() - t)
"""

_ACCUMULATOR = """
import sys, time, types
sys.modules["tensorboard.compat.notf"] = types.ModuleType("tensorboard.compat.notf")
from tensorboard.backend.event_processing import event_accumulator as ea
t = time.perf_counter()
acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0})
acc.Reload()
n = sum(len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"])
print(time.perf_counter() - t, n)
"""


def _fresh_db(folder: Path, steps: int, keys: int) -> Path:
    db = folder / "bench.db"
    run = tracker.init("bench", name="big", config={"lr": 0.001, "layers": [64, 64]}, db=db)
    step_arr = np.arange(steps)
    walls = 1.7e9 + step_arr * 0.01
    rng = np.random.default_rng(0)
    for k in range(keys):
        run.log_series(f"train/key{k}", step_arr, rng.random(steps), walls)
    run.finish()
    return db


def _subprocess_seconds(code: str, *args: str) -> list[str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env=env, check=True)
    return out.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--no-peers", action="store_true", help="Skip the slow peer writers.")
    args = parser.parse_args()
    points = args.steps * args.keys
    work = Path(tempfile.mkdtemp(prefix="bench_tb_"))
    results: dict[str, list[float]] = {}
    # Like the peers' import times, ours is left out of the timings: load the modules first.
    import tracker.tensorboard.export  # noqa: F401
    import tracker.tensorboard.importer  # noqa: F401

    try:
        db = _fresh_db(work, args.steps, args.keys)
        for rep in range(args.repeat):
            for label, float64 in (("export (float32, default)", False), ("export --float64", True)):
                out = work / f"out{rep}{float64}"
                t = time.perf_counter()
                tracker.export_tensorboard(out, db=db, float64=float64)
                results.setdefault(label, []).append(time.perf_counter() - t)
            back = work / f"back{rep}.db"
            t = time.perf_counter()
            summary = tracker.import_tensorboard(work / f"out{rep}False", db=back)
            results.setdefault("import (our export)", []).append(time.perf_counter() - t)
            assert summary.scalars == points, summary
            (run_dir,) = {p.parent for p in (work / f"out{rep}False").rglob("events.out.*")}
            seconds, count = _subprocess_seconds(_ACCUMULATOR, str(run_dir))
            assert int(count) == points
            results.setdefault("EventAccumulator reads it", []).append(float(seconds))
            if not args.no_peers:
                for kind in ("torch", "tensorboardX"):
                    logdir = work / f"{kind}{rep}"
                    (seconds,) = _subprocess_seconds(_PEER_WRITE, kind, str(logdir),
                                                     str(args.steps), str(args.keys))
                    results.setdefault(f"{kind} SummaryWriter live", []).append(float(seconds))
                    shutil.rmtree(logdir)
            print(f"repetition {rep + 1}/{args.repeat} done", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\n{points:,} scalars ({args.keys} keys x {args.steps:,} steps), median of {args.repeat}")
    print(f"{'measurement':32} {'seconds':>9}  {'runs':>24}")
    for label, values in results.items():
        runs = " ".join(f"{v:.2f}" for v in values)
        print(f"{label:32} {med[label]:9.2f}  {runs:>24}")
    ours = med["export (float32, default)"]
    print("\nratios (peer time / ours, higher is better for us)")
    for peer in ("torch SummaryWriter live", "tensorboardX SummaryWriter live"):
        if peer in med:
            print(f"  export vs {peer:32} x{med[peer] / ours:6.1f}")
    print(f"  import vs EventAccumulator reading it      x"
          f"{med['EventAccumulator reads it'] / med['import (our export)']:6.1f}")
    print(f"targets: export <= 1.5 s ({'met' if ours <= 1.5 else 'MISSED'}), import <= 3 s "
          f"({'met' if med['import (our export)'] <= 3.0 else 'MISSED'})")


if __name__ == "__main__":
    main()
