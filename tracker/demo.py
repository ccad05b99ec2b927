"""Provides a small, fully deterministic demo store (for trying the app, for tests and snapshots).

Run ``python -m tracker.demo demo.db`` and then ``tracker --db demo.db``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .graph import Graph
    from .profile import Profile

BASE_WALL = 1_767_225_600.0  # 2026-01-01 00:00 UTC: walls are fixed, so curves look the same

RUNS: list[tuple[str, str, str | None, list[str], str, dict[str, Any]]] = [
    # project, name, group, tags, status, config
    ("mnist", "baseline", None, ["baseline"], "finished",
     {"lr": 1e-3, "batch_size": 64, "optim": {"name": "adam", "beta1": 0.9}, "layers": [128, 64]}),
    ("mnist", "high-lr", None, [], "finished",
     {"lr": 1e-2, "batch_size": 64, "optim": {"name": "adam", "beta1": 0.9}, "layers": [128, 64]}),
    ("mnist", "wide", None, ["wide"], "failed",
     {"lr": 1e-3, "batch_size": 128, "optim": {"name": "sgd", "beta1": 0.9}, "layers": [512, 64]}),
    ("cifar", "sweep-a", "sweep-1", [], "finished",
     {"lr": 3e-4, "batch_size": 256, "optim": {"name": "adamw", "beta1": 0.95}, "layers": [256]}),
    ("cifar", "sweep-b", "sweep-1", [], "killed",
     {"lr": 1e-4, "batch_size": 256, "optim": {"name": "adamw", "beta1": 0.95}, "layers": [256]}),
    ("mnist", "[bold red]x\x1b[2J", None, ["[i]tag"], "finished", {"lr": 5e-4}),
]
STEPS = 400


def seed_demo(db: str | os.PathLike[str]) -> list[str]:
    """Write the demo runs into ``db`` and return their ids (in creation order)."""
    import tracker

    ids = []
    for i, (project, name, group, tags, status, config) in enumerate(RUNS):
        rng = np.random.default_rng(i)
        run = tracker.init(project, name, config, tags=tags, group=group, db=db,
                           notes="first try" if i == 0 else None)
        steps = np.arange(STEPS if i < 5 else 20)
        walls = BASE_WALL + i * 3600 + steps * 0.5
        decay = np.exp(-steps / (60 + 25 * i))
        loss = 2.3 * decay + 0.05 + 0.04 * rng.standard_normal(len(steps)) * decay
        if i == 1:
            loss[150] = 4.0  # a spike the charts must keep
        run.log_series("train/loss", steps, loss, walls)
        run.log_series("train/acc", steps, 1 - 0.9 * decay, walls)
        run.log_series("val/loss", steps[::20], loss[::20] * 1.1, walls[::20])
        if i < 5:
            run.log_series("lr", steps, config["lr"] * (1 - steps / STEPS / 2), walls)
            for step in range(0, STEPS, 50):
                spread = 1 + step / STEPS
                run.log_histogram("fc1/weight", rng.standard_normal(2000) * spread, step=step,
                                  wall=BASE_WALL + step)
                run.log_text("samples", f"step {step}: predicted 7, label 7\nconfidence "
                             f"{0.5 + step / 1000:.2f}", step=step, wall=BASE_WALL + step)
            run.log_graph(demo_graph())
            run.log_profile(demo_profile(i))
            run.set_summary(best_acc=round(float(1 - 0.9 * decay[-1]), 4))
        if i < 2 or i == 5:
            for step in range(0, STEPS if i < 5 else 20, 100):
                caption = f"epoch {step // 100}" if i < 5 else name
                run.log_image("samples", demo_image(step, i), step=step, caption=caption,
                              wall=BASE_WALL + step)
        run.finish(status)
        ids.append(run.id)
    return ids


def demo_image(step: int, seed: int) -> np.ndarray:
    """A 24x32 RGB 'sample' that sharpens as the steps go by (deterministic)."""
    y, x = np.mgrid[0:24, 0:32] / 24
    sharp = 1 + step / 100
    rng = np.random.default_rng(seed)
    image = np.stack([np.sin(sharp * 3 * x), np.cos(sharp * 2 * y), np.sin(sharp * x * y * 4)], -1)
    noise = rng.standard_normal(image.shape) * 0.3 / sharp
    return np.clip(image * 0.5 + 0.5 + noise, 0, 1).astype(np.float32)


def demo_graph() -> Graph:
    """A small MLP graph with module scopes."""
    import tracker

    graph = tracker.Graph(name="MLP", framework="torch", source="fx")
    prev = graph.add(tracker.GraphNode("x", "placeholder", "", "input", "[64, 784]", "float32"))
    width = 784
    for block, out in enumerate((128, 64)):
        scope = f"encoder/block{block}"
        lin = graph.add(tracker.GraphNode(f"encoder.block{block}.fc", "linear", scope, "module",
                                          f"[64, {out}]", "float32", params=width * out + out))
        act = graph.add(tracker.GraphNode(f"encoder.block{block}.relu", "relu", scope, "op",
                                          f"[64, {out}]", "float32"))
        graph.connect(prev, lin)
        graph.connect(lin, act)
        prev, width = act, out
    head = graph.add(tracker.GraphNode("head", "linear", "head", "module", "[64, 10]", "float32",
                                       params=width * 10 + 10))
    graph.connect(prev, head)
    output = graph.add(tracker.GraphNode("output", "output", "", "output", "[64, 10]", "float32"))
    graph.connect(head, output)
    return graph


def demo_profile(seed: int) -> Profile:
    """A small torch-like profile: a few ops and step times."""
    import tracker

    ops = [
        tracker.ProfileOp("aten::addmm", "aten", 300, 4.2e6, 5.1e6, 3.9e6, 4.0e6, 0, 1 << 20, 2.4e9),
        tracker.ProfileOp("aten::relu", "aten", 200, 6.0e5, 7.5e5, 4.1e5, 4.1e5, 0, 1 << 18, None),
        tracker.ProfileOp("aten::mse_loss", "aten", 100, 3.1e5, 9.0e5, None, None, 4096, None, None),
        tracker.ProfileOp("Optimizer.step#Adam.step", "user", 100, 1.5e6, 2.2e6),
    ]
    steps = [(s, 5.0e6 + 1e5 * ((s * 7 + seed) % 5)) for s in range(10, 20)]
    return tracker.Profile(ops=ops, step_times_ns=steps, name="steps 10-19", framework="torch",
                           step_from=10, step_to=19, duration_ns=sum(d for _, d in steps))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tracker.demo FILE.db")
    print("\n".join(seed_demo(sys.argv[1])))
