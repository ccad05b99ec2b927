"""Step-time overhead of the torch hooks: ``run.log`` of tensors every step + ``watch(log_every=100)``.

    .venv/bin/python benchmarks/bench_torch_hooks.py [--device cpu|cuda] [--steps 1500] [--reps 5]

Configurations, each a fresh model trained for ``--steps`` steps (a 3-layer MLP, batch 128,
``torch.set_num_threads(1)`` on CPU):

- ``none``: no tracking (the baseline);
- ``log``: ``run.log({"loss": loss, "acc": acc, "lr": lr}, step=i)`` every step, tensors as they are;
- ``log+watch``: the same plus ``watch(model, run, log_every=100)`` (stats, histograms, graph);
- ``tbx``: the peer, tensorboardX ``add_scalar`` of the same three values every step and, every
  100 steps, ``add_histogram`` of every weight and gradient (what a TensorBoard user writes by hand).

Repetitions take turns (rotated order) so load drift on the machine hits every configuration alike;
medians per configuration are printed with the ratio to ``none``, for wall time and for the
process's CPU time (all threads, so the writer thread counts; steadier than wall time on a busy
machine). The target is under 2% overhead (ratio < 1.02) for ``log+watch``. ``our µs/step`` is the
CPU time of the training thread inside ``run.log`` and the watch pre-hook (logging steps included).

With ``--device cuda`` the tracked loops also run under ``torch.cuda.set_sync_debug_mode("warn")``
and the number of synchronizing calls per step on the training thread is counted (the target is
zero; the writer thread's batched reads are off-thread by design); the peer, which reads every
value on the training thread, is counted the same way.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import torch

import tracker
from tracker.hooks import torch_watch
from tracker.hooks.torch import unwatch, watch

CONFIGS = ("none", "log", "log+watch", "tbx")
_our_ns = [0]


def _model(device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(256, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
    ).to(device)


def _timed_log(run: Any) -> Any:
    log = run.log

    def timed(metrics: Any, step: Any = None) -> None:
        t0 = time.thread_time_ns()
        log(metrics, step)
        _our_ns[0] += time.thread_time_ns() - t0

    return timed


def _patch_prehook() -> None:
    """Count the time inside watch()'s per-step pre-hook (the off-step cost) as ours too."""
    original = torch_watch.Watcher._pre_forward
    if getattr(original, "_timed", False):
        return

    def timed(self: Any, module: Any, args: tuple, kwargs: dict) -> None:
        t0 = time.thread_time_ns()
        original(self, module, args, kwargs)
        _our_ns[0] += time.thread_time_ns() - t0

    timed._timed = True  # type: ignore[attr-defined]
    torch_watch.Watcher._pre_forward = timed  # type: ignore[method-assign]


def one_run(config: str, steps: int, device: str, work: Path, count_syncs: bool) -> dict[str, float]:
    model = _model(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1000)
    xs = torch.randn(16, 128, 256, device=device)
    ys = torch.randint(0, 10, (16, 128), device=device)
    run: Any = None
    writer: Any = None
    log: Any = None
    if config in ("log", "log+watch"):
        run = tracker.init("bench-torch", config={"config": config}, db=work / "tracker.db")
        log = _timed_log(run)
        if config == "log+watch":
            watch(model, run, log_every=100)
    elif config == "tbx":
        from tensorboardX import SummaryWriter

        writer = SummaryWriter(str(work / f"tbx-{time.time_ns()}"))
    _our_ns[0] = 0
    if count_syncs:
        torch.cuda.set_sync_debug_mode("warn")
    if device == "cuda":
        torch.cuda.synchronize()
    t0, cpu0 = time.perf_counter(), time.process_time()
    caught: list[tuple[str, str]] = []
    main = threading.current_thread().name

    def show(message: Any, category: Any, filename: Any, lineno: Any, *rest: Any) -> None:
        # sync warnings come from the thread that synced: the writer thread's reads are fine
        caught.append((threading.current_thread().name, str(message)))

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        for step in range(steps):
            x, y = xs[step % 16], ys[step % 16]
            out = model(x)
            loss = torch.nn.functional.cross_entropy(out, y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            sched.step()
            acc = (out.detach().argmax(1) == y).float().mean()
            lr = sched.get_last_lr()[0]
            if log is not None:
                log({"loss": loss, "acc": acc, "lr": lr}, step=step)
            elif writer is not None:
                writer.add_scalar("loss", loss, step)
                writer.add_scalar("acc", acc, step)
                writer.add_scalar("lr", lr, step)
                if step % 100 == 0:
                    for name, p in model.named_parameters():
                        writer.add_histogram(f"weights/{name}", p, step)
                        if p.grad is not None:
                            writer.add_histogram(f"grads/{name}", p.grad, step)
        if device == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0  # all threads: the writer thread's work counts too
        syncs = [m for thread, m in caught if thread == main and "synchroniz" in m]
    if count_syncs:
        torch.cuda.set_sync_debug_mode(0)
    ours = _our_ns[0]
    if run is not None:
        unwatch(model)
        run.finish()
    if writer is not None:
        writer.close()
    return {
        "step_ms": elapsed / steps * 1e3,
        "cpu_ms": cpu / steps * 1e3,
        "our_us": ours / steps / 1e3,
        "syncs_per_step": len(syncs) / steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    _patch_prehook()
    work = Path(tempfile.mkdtemp(prefix="bench-torch-"))
    count_syncs = args.device == "cuda"
    one_run("log+watch", 50, args.device, work, False)  # warm-up: allocator, imports, first graph
    one_run("tbx", 50, args.device, work, False)
    results: dict[str, list[dict[str, float]]] = {c: [] for c in CONFIGS}
    for rep in range(args.reps):
        order = CONFIGS[rep % len(CONFIGS):] + CONFIGS[: rep % len(CONFIGS)]
        for config in order:
            results[config].append(one_run(config, args.steps, args.device, work, count_syncs))
    base = statistics.median(r["step_ms"] for r in results["none"])
    cpu_base = statistics.median(r["cpu_ms"] for r in results["none"])
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu, 1 thread"
    print(f"torch {torch.__version__} on {device}; {args.steps} steps x {args.reps} reps, medians")
    print(f"{'config':<10} {'wall ms/step':>12} {'ratio':>6} {'cpu ms/step':>12} {'ratio':>6} "
          f"{'our µs/step':>12} {'syncs/step':>11}")
    for config in CONFIGS:
        rows = results[config]
        ms = statistics.median(r["step_ms"] for r in rows)
        cpu = statistics.median(r["cpu_ms"] for r in rows)
        ours = statistics.median(r["our_us"] for r in rows)
        syncs = statistics.median(r["syncs_per_step"] for r in rows)
        sync_text = f"{syncs:.2f}" if count_syncs else "-"
        our_text = f"{ours:.1f}" if config in ("log", "log+watch") else "-"
        print(f"{config:<10} {ms:>12.3f} {ms / base:>6.3f} {cpu:>12.3f} {cpu / cpu_base:>6.3f} "
              f"{our_text:>12} {sync_text:>11}")

if __name__ == "__main__":
    main()
