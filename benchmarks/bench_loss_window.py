"""How much logging a `kill -9` loses: the loss window, in seconds, at a given logging rate.

    .venv/bin/python benchmarks/bench_loss_window.py [--trials 10] [--rate 0] [--keys 5]

Each trial starts a child that logs steps of ``--keys`` float scalars (one of them the wall time
at logging) as fast as it can (``--rate 0``, which saturates the writer) or at ``--rate`` points
per second, prints its progress, and is killed with SIGKILL at a random moment 2-6 s in. The
loss window of a trial is the wall time of the last step the child printed minus the newest wall
time found in the store: what a crash at that moment lost, in seconds of logging.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import sys, time
import tracker
keys, rate = int(sys.argv[2]), float(sys.argv[3])
run = tracker.init("loss-window", db=sys.argv[1])
print(run.id, flush=True)
names = [f"k{j}" for j in range(keys - 1)]
step, start = 0, time.perf_counter()
per_step = keys / rate if rate > 0 else 0.0
while True:
    now = time.time()
    metrics = {name: float(step) for name in names}
    metrics["wall"] = now
    run.log(metrics, step=step)
    if step % 512 == 0:
        print(step, now, flush=True)
    step += 1
    if per_step:
        ahead = start + step * per_step - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
"""


def trial(db: Path, keys: int, rate: float, rng: random.Random) -> tuple[float, float]:
    """One kill -9; returns (loss window s, logging rate in points/s)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [
        str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")])))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(keys), str(rate)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    run_id = child.stdout.readline().strip()
    first = child.stdout.readline().split()
    time.sleep(rng.uniform(2.0, 6.0))
    child.send_signal(signal.SIGKILL)
    out, err = child.communicate()
    lines = [line.split() for line in out.splitlines() if len(line.split()) == 2]
    if not run_id or not lines:
        raise SystemExit(f"the child failed: {err[-2000:]}")
    last_step, last_wall = int(lines[-1][0]), float(lines[-1][1])
    import tracker

    with tracker.open_store(db) as store:
        walls = store.series(run_id, "wall").values
    stored = float(walls.max()) if len(walls) else float(first[1])
    points_per_s = (last_step - int(first[0])) * keys / max(last_wall - float(first[1]), 1e-9)
    return max(0.0, last_wall - stored), points_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--rate", type=float, default=0.0, help="points/s; 0 = as fast as possible")
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    windows, rates = [], []
    with tempfile.TemporaryDirectory(prefix="loss-window-") as tmp:
        for i in range(args.trials):
            window, rate = trial(Path(tmp) / f"t{i}.db", args.keys, args.rate, rng)
            windows.append(window)
            rates.append(rate)
            print(f"trial {i}: {rate / 1e3:.0f}k points/s, lost the last {window:.3f} s", flush=True)
    print(f"\n{args.trials} trials at {statistics.median(rates) / 1e3:.0f}k points/s (median): "
          f"loss window median {statistics.median(windows):.3f} s, max {max(windows):.3f} s")


if __name__ == "__main__":
    main()
