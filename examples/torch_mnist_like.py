"""A small CNN on synthetic MNIST-shaped data (no downloads) with watch(), a graph and a profile.

    python examples/torch_mnist_like.py [--steps 300] [--db tracker.db]
    tracker                       # then browse the run: curves, histograms, graph, profile
"""

from __future__ import annotations

import argparse
import shlex

import torch
from torch import nn

import tracker
from tracker.hooks.torch import profile, unwatch, watch


class SmallCNN(nn.Module):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(2 * width * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))


def synthetic_batches(steps: int, batch: int = 64) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Images whose class is a bright 7x7 patch position: learnable in a few hundred steps."""
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(min(steps, 50)):  # 50 distinct batches, cycled
        y = torch.randint(0, 10, (batch,), generator=g)
        x = torch.randn(batch, 1, 28, 28, generator=g)
        for i, label in enumerate(y.tolist()):
            r, c = divmod(label, 4)
            x[i, 0, r * 7:(r + 1) * 7, c * 7:(c + 1) * 7] += 0.25
        out.append((x, y))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--db", default=None, help="store file (default ./tracker.db)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = {"lr": 0.01, "batch": 64, "width": 16, "optimizer": {"name": "sgd", "momentum": 0.9}}
    model = SmallCNN(cfg["width"])
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps)
    batches = synthetic_batches(args.steps, cfg["batch"])

    run = tracker.init(project="mnist-like", config=cfg, tags=["example", "torch"], db=args.db)
    watch(model, run, log_every=50)  # stats + histograms every 50 steps, the graph at step 0

    def train_step(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batches[step % len(batches)]
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        sched.step()
        acc = (logits.argmax(1) == y).float().mean()
        # tensors as they are: on a GPU they are read on the writer thread, never here
        run.log({"train/loss": loss, "train/acc": acc, "lr": sched.get_last_lr()[0]}, step=step)
        return loss, acc

    start = min(100, args.steps)
    for step in range(start):
        train_step(step)
    with profile(run, steps=5):  # torch.profiler over the next 5 optimizer steps (+1 warm-up)
        for step in range(start, min(start + 8, args.steps)):
            train_step(step)
    for step in range(min(start + 8, args.steps), args.steps):
        loss, acc = train_step(step)
    unwatch(model)
    run.set_summary(final_loss=run_last(run, "train/loss"), final_acc=run_last(run, "train/acc"))
    run.finish()
    print(f"run {run.id} ({run.name}) logged to {run.db_path};"
          f" browse it with: {browse_command(args.db)}")


def run_last(run: tracker.Run, key: str) -> float | None:
    """The last stored value of a key (read back through the query API)."""
    run.flush()
    with tracker.open_store(run.db_path) as store:
        return store.run(run.id).last.get(key)


def browse_command(db: str | None) -> str:
    """The command that opens the app on the store this example logged to."""
    return "tracker" if db is None else f"tracker --db {shlex.quote(db)}"


if __name__ == "__main__":
    main()
