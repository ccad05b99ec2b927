"""What the system sampler costs: CPU time of its thread per sample and per hour at the default
10 s interval (target: < 0.2% of one core), medians of 3 fresh processes.

    .venv/bin/python benchmarks/bench_system_sampler.py [--repeat 3] [--samples 200]
    python3 benchmarks/bench_system_sampler.py --live 5     # print the series it gets (GPU box)

The sampler thread's own CPU clock (pthread_getcpuclockid) is read after its first sample (so
psutil's import and NVML's start-up are reported apart, as "start-up") and after N more. Two
paces: fast (20 ms apart, many samples) and slow (1 s apart, closer to the real 10 s pace, where
caches are colder). GPUs are sampled through the real NVML where a driver exists.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent.parent))

from tracker.capture.system import DEFAULT_INTERVAL, SystemSampler  # noqa: E402


def _thread_cpu(ident: int) -> float:
    return time.clock_gettime(time.pthread_getcpuclockid(ident))


def measure(samples: int, interval: float) -> dict[str, float]:
    """One process: CPU seconds of the sampler thread for start-up and per sample."""
    cond = threading.Condition()
    got: list[dict[str, float]] = []
    cpu_at: dict[int, float] = {}
    sampler: SystemSampler

    def sink(values: dict[str, float]) -> None:
        with cond:
            got.append(values)
            if len(got) in (1, samples + 1):
                cpu_at[len(got)] = _thread_cpu(threading.get_ident())
            cond.notify_all()

    sampler = SystemSampler(sink, interval=interval, first_after=0.0)
    sampler.start()
    with cond:
        cond.wait_for(lambda: len(got) > samples, timeout=samples * interval * 5 + 60)
    sampler.stop()
    gpu_keys = sorted({k for v in got for k in v if k.startswith("sys/gpu")})
    return {
        "startup_ms": cpu_at[1] * 1e3,
        "per_sample_us": (cpu_at[samples + 1] - cpu_at[1]) / samples * 1e6,
        "keys": len(got[-1]),
        "gpus": len({k.split("/")[1] for k in gpu_keys}),
    }


def live(seconds: float) -> None:
    """Sample every second for a while and print what came (the device check)."""
    from tracker.capture.nvml import driver_present

    print(f"driver present: {driver_present()}")
    cond = threading.Condition()
    got: list[dict[str, float]] = []

    def sink(values: dict[str, float]) -> None:
        with cond:
            got.append(values)
            cond.notify_all()

    sampler = SystemSampler(sink, interval=1.0)
    sampler.start()
    with cond:
        cond.wait_for(lambda: len(got) >= max(1, int(seconds)), timeout=seconds + 30)
    ident = sampler.thread_ident
    cpu = _thread_cpu(ident) if ident is not None else float("nan")
    sampler.stop()
    for i, values in enumerate(got):
        gpu = {k: round(v, 2) for k, v in values.items() if k.startswith("sys/gpu")}
        host = {k: round(v, 2) for k, v in values.items() if not k.startswith("sys/gpu")}
        print(f"sample {i}: {json.dumps(gpu)}")
        print(f"          {json.dumps(host)}")
    if not any(k.startswith("sys/gpu") for v in got for k in v):
        print("NO GPU SERIES")
    print(f"sampler thread CPU, start-up included: {cpu * 1e3:.1f} ms for {len(got)} samples")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--live", type=float, default=0.0, help="print the series for N seconds")
    parser.add_argument("--worker", nargs=2, metavar=("SAMPLES", "INTERVAL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.live:
        live(args.live)
        return
    if args.worker:
        print(json.dumps(measure(int(args.worker[0]), float(args.worker[1]))))
        return
    paces = {"fast (20 ms apart)": (args.samples, 0.02), "slow (1 s apart)": (5, 1.0)}
    print(f"system sampler, {args.repeat} fresh processes per pace, CPU time of its thread")
    for label, (n, interval) in paces.items():
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run(
                [sys.executable, str(HERE), "--worker", str(n), str(interval)],
                capture_output=True, text=True, check=True, env={**os.environ},
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        per_sample = statistics.median(r["per_sample_us"] for r in runs)
        startup = statistics.median(r["startup_ms"] for r in runs)
        per_hour_s = per_sample * 1e-6 * 3600 / DEFAULT_INTERVAL
        core_pct = per_sample * 1e-6 / DEFAULT_INTERVAL * 100
        each = ", ".join(f"{r['per_sample_us']:.0f}" for r in runs)
        print(
            f"  {label}: {per_sample:8.1f} us/sample (runs: {each}), start-up {startup:.1f} ms, "
            f"{runs[0]['keys']} keys, {runs[0]['gpus']} GPUs"
        )
        print(
            f"      at the default {DEFAULT_INTERVAL:g} s interval: {per_hour_s * 1e3:.1f} ms CPU "
            f"per hour = {core_pct:.4f}% of one core (target < 0.2%)"
        )


if __name__ == "__main__":
    main()
