"""What a run's capture costs (issue 18): log() with system metrics and console capture on vs
off, the process's CPU for a training-like loop that prints, and the sampler's share of a core at
the default interval through tracker.init; medians of 3 fresh processes each.

    .venv/bin/python benchmarks/bench_capture.py [--repeat 3] [--steps 200000]

Each case is a fresh process running tracker.init(...) on a new store, ``--steps`` log() calls of
3 floats (timed: the median per call), then a loop of 2,000 printed lines with a log() each (the
process's CPU, capture on vs off), then finish(). The sampler's share comes from a run kept open
``--hold`` seconds at a 1 s interval: its thread's CPU clock per sample, times 6 per minute
(the 10 s default).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent

CASE = textwrap.dedent('''
import json, os, sys, threading, time
sys.path.insert(0, ROOT)
import tracker
on = sys.argv[1] == "on"
run = tracker.init(project="bench", db=sys.argv[2], system=on, console=on)
steps = int(sys.argv[3])
t0 = time.perf_counter()
for i in range(steps):
    run.log({"loss": 0.5, "acc": 0.25, "lr": 0.001})
log_s = (time.perf_counter() - t0) / steps
c0 = time.process_time()
t0 = time.perf_counter()
for i in range(2000):
    run.log({"loss": 0.5})
    print(f"step {i} loss 0.5 acc 0.25 lr 0.001 throughput 1234.5 samples/s")
sys.stdout.flush()
print_cpu = time.process_time() - c0
print_wall = time.perf_counter() - t0
run.finish()
with open(sys.argv[-1], "w") as f:
    json.dump({"log_us": log_s * 1e6, "print_cpu_ms": print_cpu * 1e3,
               "print_wall_ms": print_wall * 1e3}, f)
''')

SAMPLER = textwrap.dedent('''
import json, os, sys, threading, time
sys.path.insert(0, ROOT)
import tracker
run = tracker.init(project="bench", db=sys.argv[1], console=False, system_interval=1.0)
hold = float(sys.argv[2])
time.sleep(hold)
sampler = [t for t in threading.enumerate() if t.name == "tracker-system"][0]
cpu = time.clock_gettime(time.pthread_getcpuclockid(sampler.ident))
run.finish()
with open(sys.argv[-1], "w") as f:
    json.dump({"cpu_s": cpu, "samples": int(hold)}, f)
''')


def _one(script: str, args: list[str]) -> dict[str, float]:
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        proc = subprocess.run(
            [sys.executable, "-c", script.replace("ROOT", repr(str(ROOT))), *args, result.name],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
        if proc.returncode:
            raise SystemExit(proc.stderr.decode()[-2000:])
        return json.loads(Path(result.name).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--hold", type=float, default=21.0)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for mode in ("off", "on"):
                db = str(Path(tmp) / f"{mode}{i}.db")
                results[mode].append(_one(CASE, [mode, db, str(args.steps)]))
        sampler = [_one(SAMPLER, [str(Path(tmp) / f"s{i}.db"), str(args.hold)])
                   for i in range(args.repeat)]

    def med(mode: str, field: str) -> float:
        return statistics.median(r[field] for r in results[mode])

    out = {}
    for field in ("log_us", "print_cpu_ms", "print_wall_ms"):
        off, on = med("off", field), med("on", field)
        out[field] = {"off": round(off, 3), "on": round(on, 3), "ratio": round(on / off, 3)}
    per_sample = statistics.median(s["cpu_s"] / max(1, s["samples"]) for s in sampler)
    out["sampler"] = {"cpu_ms_per_sample": round(per_sample * 1e3, 3),
                      "core_percent_at_10s": round(per_sample / 10.0 * 100, 4)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
