"""Loop time of a small jitted JAX/Optax step that logs its metrics every step, three ways:

- none:    no logging (the floor);
- tracker: ``tj.log(run, metrics, step)`` with the metrics as JAX arrays (read once computed, on
  CPU by a later ``log()`` call, on an accelerator by the writer thread);
- packed:  the same step returning ``tj.pack(metrics)`` (one array for the 3 metrics: one read);
- float:   ``run.log({k: float(v)})``: converting on the caller's thread, a host sync every step.
Target: tracker within 2% of none. Optionally with host work per step (``--host-work-ms``, a busy
loop standing in for data loading), where a per-step sync loses the host/device overlap.

    .venv/bin/python benchmarks/bench_jax_hooks.py [--device cpu|gpu] [--steps 10000] [--reps 9]
        [--width 128] [--host-work-ms 0,0.3] [--cores 0]

``--cores 1`` pins the process to one core: XLA, the loop and our writer thread then share it, so
the tracker's ratio counts all of its CPU.

Each repetition runs every mode once, in rotated order, on a fresh store; medians are printed with
each mode's ratio to 'none': of the medians ('x none'), the median of per-repetition ratios
('paired': load drift hits both alike) and of the fastest repetitions ('best'), and the process
CPU time per step ('cpu us/step': JAX's own threads, the loop and the tracker's writer thread; on a
machine whose cores XLA already keeps busy, that extra CPU is what the loop pays), with two parts
of it: the loop's own thread ('loop thread': dispatch, and ``log()`` for the tracker) and the
tracker's writer thread ('writer': reading the arrays, writing the points). Loop time = the
step loop plus a final ``block_until_ready``; a loop lasts over two seconds, so the writer's timed
flushes and early reads fall inside it; ``finish`` (the tracker's final write) is reported apart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MODES = ("none", "tracker", "packed", "float")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--cores", type=int, default=0, help="pin to this many cores (0: all)")
    parser.add_argument("--host-work-ms", default="0,0.3",
                        help="comma-separated host work per step, in ms (busy loop)")
    return parser.parse_args()


def _writer_cpu() -> float:
    """CPU seconds of the tracker's writer thread so far (0 before it starts)."""
    for thread in threading.enumerate():
        if thread.name == "tracker-flusher" and thread.ident is not None:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return 0.0


def _busy(ms: float) -> None:
    if ms <= 0:
        return
    end = time.perf_counter() + ms / 1e3
    while time.perf_counter() < end:
        pass


def main() -> None:
    args = _parse()
    from _cores import pin

    where = pin(args.cores)
    os.environ.setdefault("JAX_PLATFORMS", "cuda" if args.device == "gpu" else "cpu")
    import jax
    import jax.numpy as jnp
    import optax

    import tracker
    from tracker.hooks import jax as tj

    keys = jax.random.split(jax.random.key(0), args.depth + 2)
    dims = [32] + [args.width] * args.depth + [4]
    params = [
        (jax.random.normal(keys[i], (dims[i], dims[i + 1])) / dims[i] ** 0.5, jnp.zeros(dims[i + 1]))
        for i in range(len(dims) - 1)
    ]
    x = jax.random.normal(keys[-1], (args.batch, 32))
    y = jnp.sin(x[:, :4])
    opt = optax.adam(1e-3)

    def loss_fn(p: Any) -> jax.Array:
        h = x
        for w, b in p[:-1]:
            h = jax.nn.relu(h @ w + b)
        return jnp.mean((h @ p[-1][0] + p[-1][1] - y) ** 2)

    @jax.jit
    def train_step(p: Any, state: Any) -> tuple[Any, Any, dict]:
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, state = opt.update(grads, state, p)
        metrics = {"train": {"loss": loss, "rmse": jnp.sqrt(loss)},
                   "grad_norm": optax.tree.norm(grads)}
        return optax.apply_updates(p, updates), state, metrics

    @jax.jit
    def train_step_packed(p: Any, state: Any) -> tuple[Any, Any, Any]:
        p, state, metrics = train_step(p, state)
        return p, state, tj.pack(metrics)

    state0 = opt.init(params)
    jax.block_until_ready(train_step(params, state0))  # compile
    jax.block_until_ready(train_step_packed(params, state0))
    work = Path(tempfile.mkdtemp(prefix="bench-jax-"))
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}, {where}), jax {jax.__version__}, "
          f"MLP {args.depth}x{args.width}, batch {args.batch}, {args.steps} steps, {args.reps} reps")

    def loop(mode: str, host_ms: float, rep: int) -> tuple[float, float, float]:
        run = tracker.init("bench-jax", db=work / f"{mode}-{host_ms}-{rep}.db") if mode != "none" else None
        p, s = params, state0
        t0, c0, m0, w0 = time.perf_counter(), time.process_time(), time.thread_time(), _writer_cpu()
        step_fn = train_step_packed if mode == "packed" else train_step
        for step in range(args.steps):
            _busy(host_ms)
            p, s, metrics = step_fn(p, s)
            if mode == "tracker" or mode == "packed":
                tj.log(run, metrics, step=step)
            elif mode == "float":
                flat = tj.flatten_metrics(metrics)
                run.log({k: float(v) for k, v in flat.items()}, step=step)
        jax.block_until_ready(p)
        loop_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        loop_cpu, writer_cpu = time.thread_time() - m0, _writer_cpu() - w0
        t1 = time.perf_counter()
        if run is not None:
            run.finish()
            with tracker.open_store(run.db_path) as store:  # every point arrived
                assert len(store.series(run.id, "train/loss")) == args.steps
        return loop_s, time.perf_counter() - t1, cpu_s, loop_cpu, writer_cpu

    for host_ms in [float(v) for v in args.host_work_ms.split(",")]:
        results: dict[str, list[tuple[float, ...]]] = {m: [] for m in MODES}
        for rep in range(args.reps):
            for i in range(len(MODES)):
                mode = MODES[(i + rep) % len(MODES)]
                results[mode].append(loop(mode, host_ms, rep))
        base = statistics.median(r[0] for r in results["none"])
        print(f"\nhost work {host_ms} ms/step")
        print(f"{'mode':<8} {'loop s':>8} {'us/step':>8} {'x none':>7} {'paired':>7} {'best':>7}"
              f" {'cpu us/step':>12} {'loop thread':>12} {'writer':>7} {'finish s':>9}")
        best = min(r[0] for r in results["none"])
        for mode in MODES:
            loops = [r[0] for r in results[mode]]
            med = statistics.median(loops)
            paired = statistics.median(a / b[0] for a, b in zip(loops, results["none"]))
            fin = statistics.median(r[1] for r in results[mode])
            cpu, loop_cpu, writer_cpu = (
                statistics.median(r[i] for r in results[mode]) / args.steps * 1e6 for i in (2, 3, 4)
            )
            print(f"{mode:<8} {med:8.3f} {med / args.steps * 1e6:8.1f} {med / base:7.3f}"
                  f" {paired:7.3f} {min(loops) / best:7.3f} {cpu:12.1f} {loop_cpu:12.1f}"
                  f" {writer_cpu:7.1f} {fin:9.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
