"""Step-time overhead of the torch hooks: ``run.log`` of tensors every step + ``watch(log_every=100)``.

    .venv/bin/python benchmarks/bench_torch_hooks.py [--device cpu|cuda] [--blocks 15] [--cores 0]

Five trainers live side by side in one process, each with its own copy of the same model (a
3-layer MLP 256-512-512-10, batch 128, SGD with momentum; ``torch.set_num_threads(1)`` on CPU):

- ``none``: no tracking (the baseline);
- ``none-again``: no tracking either, on its own model copy: the A/A control. Its ratio is the
  noise floor of this machine and method; an overhead within it is not measurable;
- ``log``: ``run.log({"loss": loss, "acc": acc, "lr": lr}, step=i)`` every step, tensors as they are;
- ``log+watch``: the same plus ``watch(model, run, log_every=100)`` (stats, histograms, graph);
- ``tbx``: the peer, tensorboardX ``add_scalar`` of the same three values every step and, every
  100 steps, ``add_histogram`` of every weight and gradient (what a TensorBoard user writes by hand).

They take turns in blocks of 100 steps (one ``watch`` logging step per block), in a rotated order,
so the load of a busy machine hits all of them alike. Before every round each trainer's weights,
optimizer state and data move to fresh memory: left in place, where they happened to land made a
trainer up to 1% faster or slower than its twin for the whole process (see ``Trainer.relocate``).

Per configuration: the median time per step over blocks (wall, and the training thread's CPU
time), the median over rounds of the ratio to the ``none`` block of the same round, and ``min
ratio``, the ratio of the fastest blocks' CPU times. The first block of each (graph capture,
allocator warm-up) is left out. The target is under 2% overhead (ratio < 1.02) for ``log+watch``.

``our µs/step`` is the training thread's time inside ``run.log`` and the watch pre-hook (where a
logging step's copies are taken and its results logged; on CPU the statistics themselves are
computed on watch's worker thread, whose cost shows in the ratios, not here). It is read with
``perf_counter``: the thread CPU-time clock is a system call (0.5 µs), which the untimed baseline
would not pay. ``--cores 1`` pins the process to one core so that the worker's and the writer's
CPU come out of the training's core.

With ``--device cuda`` the loops run under ``torch.cuda.set_sync_debug_mode("warn")`` and the
synchronizing calls on the training thread are counted per step (the target is zero; the writer
thread's batched reads are off-thread by design); the peer, which reads every value on the
training thread, is counted the same way.
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
from tracker.hooks.torch import Watcher, unwatch, watch

CONFIGS = ("none", "none-again", "log", "log+watch", "tbx")
BLOCK = 100
_our_ns = [0]


def _patch_prehook() -> None:
    """Count the time inside watch()'s per-step pre-hook as ours (logging steps included)."""
    original = Watcher._pre_forward

    def timed(self: Any, module: Any, args: tuple, kwargs: dict) -> None:
        t0 = time.perf_counter_ns()
        original(self, module, args, kwargs)
        _our_ns[0] += time.perf_counter_ns() - t0

    Watcher._pre_forward = timed  # type: ignore[method-assign]


class Trainer:
    """One configuration: its model, optimizer, data and (maybe) run or writer."""

    def __init__(self, config: str, device: str, work: Path) -> None:
        torch.manual_seed(0)
        self.config, self.device, self.step = config, device, 0
        self.model = torch.nn.Sequential(
            torch.nn.Linear(256, 512), torch.nn.ReLU(),
            torch.nn.Linear(512, 512), torch.nn.ReLU(),
            torch.nn.Linear(512, 10),
        ).to(device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.sched = torch.optim.lr_scheduler.StepLR(self.opt, step_size=1000)
        self.xs = torch.randn(16, 128, 256, device=device)
        self.ys = torch.randint(0, 10, (16, 128), device=device)
        self.run: Any = None
        self.writer: Any = None
        if config in ("log", "log+watch"):
            self.run = tracker.init("bench-torch", config={"config": config}, db=work / "tracker.db")
            if config == "log+watch":
                watch(self.model, self.run, log_every=BLOCK)
        elif config == "tbx":
            from tensorboardX import SummaryWriter

            self.writer = SummaryWriter(str(work / "tbx"))
        self.walls: list[float] = []
        self.cpus: list[float] = []
        self.ours: list[float] = []
        self.syncs: list[float] = []

    def relocate(self) -> None:
        """Move the model's weights, optimizer state and data to fresh memory.

        Where a tensor lands (its pages, and so the cache sets it maps to) made one trainer's
        steps up to 1% faster or slower than another's for a whole process, even between
        two untracked copies. Done before every round, that placement becomes noise that the
        median over rounds cancels instead of a bias that stays.
        """
        with torch.no_grad():
            for p in self.model.parameters():
                p.data = p.data.clone()
            for state in self.opt.state.values():
                for name, value in state.items():
                    if torch.is_tensor(value):
                        state[name] = value.clone()
        self.xs, self.ys = self.xs.clone(), self.ys.clone()

    def block(self, count_syncs: bool, record: bool) -> None:
        """Train BLOCK steps and record their time per step."""
        caught: list[tuple[str, str]] = []
        main = threading.current_thread().name

        def show(message: Any, category: Any, filename: Any, lineno: Any, *rest: Any) -> None:
            caught.append((threading.current_thread().name, str(message)))

        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = show
            if count_syncs:
                torch.cuda.set_sync_debug_mode("warn")
            _our_ns[0] = 0
            t0, c0 = time.perf_counter(), time.thread_time()
            for _ in range(BLOCK):
                self._step()
            if self.device == "cuda":
                torch.cuda.synchronize()
            wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
            if count_syncs:
                torch.cuda.set_sync_debug_mode(0)
        if record:
            self.walls.append(wall / BLOCK * 1e3)
            self.cpus.append(cpu / BLOCK * 1e3)
            self.ours.append(_our_ns[0] / BLOCK / 1e3)
            syncs = [m for thread, m in caught if thread == main and "synchroniz" in m]
            self.syncs.append(len(syncs) / BLOCK)

    def _step(self) -> None:
        step = self.step
        self.step += 1
        x, y = self.xs[step % 16], self.ys[step % 16]
        out = self.model(x)
        loss = torch.nn.functional.cross_entropy(out, y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        self.sched.step()
        acc = (out.detach().argmax(1) == y).float().mean()
        lr = self.sched.get_last_lr()[0]
        if self.run is not None:
            t0 = time.perf_counter_ns()
            self.run.log({"loss": loss, "acc": acc, "lr": lr}, step=step)
            _our_ns[0] += time.perf_counter_ns() - t0
        elif self.writer is not None:
            self.writer.add_scalar("loss", loss, step)
            self.writer.add_scalar("acc", acc, step)
            self.writer.add_scalar("lr", lr, step)
            if step % BLOCK == 0:
                for name, p in self.model.named_parameters():
                    self.writer.add_histogram(f"weights/{name}", p, step)
                    if p.grad is not None:
                        self.writer.add_histogram(f"grads/{name}", p.grad, step)

    def close(self) -> None:
        if self.run is not None:
            unwatch(self.model)
            self.run.finish()
        if self.writer is not None:
            self.writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--blocks", type=int, default=15, help="blocks of 100 steps per config")
    parser.add_argument("--cores", type=int, default=0,
                        help="pin to this many cores (0: all); on 1 core watch()'s worker and the "
                             "writer take their CPU from the training's core")
    args = parser.parse_args()
    from _cores import pin

    where = pin(args.cores)
    torch.set_num_threads(1)
    _patch_prehook()
    work = Path(tempfile.mkdtemp(prefix="bench-torch-"))
    count_syncs = args.device == "cuda"
    configs = CONFIGS
    try:
        import tensorboardX  # noqa: F401
    except ImportError:  # e.g. a GPU machine's own image
        print("tensorboardX is not installed: the peer is left out")
        configs = tuple(c for c in CONFIGS if c != "tbx")
    trainers = [Trainer(c, args.device, work) for c in configs]
    for b in range(args.blocks + 1):
        shift = b % len(trainers)
        for trainer in trainers:
            trainer.relocate()
        for trainer in trainers[shift:] + trainers[:shift]:
            trainer.block(count_syncs, record=b > 0)
    for trainer in trainers:
        trainer.close()
    base = trainers[0]
    device = torch.cuda.get_device_name() if count_syncs else f"cpu, 1 thread, {where}"
    print(f"torch {torch.__version__} on {device}; {args.blocks} blocks of {BLOCK} steps")
    print(f"{'config':<10} {'wall ms/step':>12} {'ratio':>6} {'cpu ms/step':>12} {'ratio':>6} "
          f"{'min ratio':>9} {'our µs/step':>12} {'syncs/step':>11}")
    for t in trainers:
        # ratios to the baseline's block of the same round (paired: slow load drift cancels),
        # then the median over rounds; 'min ratio' compares the least disturbed blocks
        wall_ratio = statistics.median(a / b for a, b in zip(t.walls, base.walls))
        cpu_ratio = statistics.median(a / b for a, b in zip(t.cpus, base.cpus))
        min_ratio = min(t.cpus) / min(base.cpus)
        wall, cpu = statistics.median(t.walls), statistics.median(t.cpus)
        ours = f"{statistics.median(t.ours):.1f}" if t.run is not None else "-"
        syncs = f"{statistics.median(t.syncs):.2f}" if count_syncs else "-"
        print(f"{t.config:<10} {wall:>12.3f} {wall_ratio:>6.3f} {cpu:>12.3f} {cpu_ratio:>6.3f} "
              f"{min_ratio:>9.3f} {ours:>12} {syncs:>11}")

if __name__ == "__main__":
    main()
