"""An ``accelerate`` training loop (a small MLP classifier on synthetic data) tracked through
``Accelerator(log_with=[TrackerAccelerate(...)])``.

    python examples/accelerate_loop.py [--steps 400] [--db tracker.db] [--cpu]
    tracker --db tracker.db       # then browse the run

Losses are handed to ``accelerator.log`` as tensors: on a GPU they are read by tracker's writer
thread, never by the training loop. ``TRACKER_DB`` picks the store when ``--db`` is not given.
"""

from __future__ import annotations

import argparse
import shlex

import torch
from accelerate import Accelerator
from torch import nn

from tracker.hooks.accelerate import TrackerAccelerate


def synthetic(n: int, seed: int) -> torch.utils.data.TensorDataset:
    """Points in 16 dimensions; the class is which of 4 fixed directions a point leans along."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.randn(4, 16, generator=torch.Generator().manual_seed(1234))
    x = torch.randn(n, 16, generator=g)
    y = (x @ directions.T).argmax(1)
    return torch.utils.data.TensorDataset(x, y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--db", default=None, help="store file (default $TRACKER_DB, else ./tracker.db)")
    parser.add_argument("--cpu", action="store_true", help="stay on the CPU even with a GPU")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = {"lr": 0.05, "batch": 64, "hidden": 64, "steps": args.steps}

    logger = TrackerAccelerate(project="accelerate-loop", db=args.db, tags=["example", "accelerate"])
    accelerator = Accelerator(cpu=args.cpu, log_with=[logger])
    accelerator.init_trackers("accelerate-loop", config=config)

    model = nn.Sequential(nn.Linear(16, config["hidden"]), nn.ReLU(), nn.Linear(config["hidden"], 4))
    opt = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    train = torch.utils.data.DataLoader(synthetic(4096, 0), batch_size=config["batch"], shuffle=True)
    test = torch.utils.data.DataLoader(synthetic(512, 1), batch_size=256)
    model, opt, train, test = accelerator.prepare(model, opt, train, test)

    step = 0
    while step < args.steps:
        for x, y in train:
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, y)
            accelerator.backward(loss)
            opt.step()
            opt.zero_grad()
            acc = (logits.argmax(1) == y).float().mean()
            accelerator.log({"train/loss": loss.detach(), "train/acc": acc}, step=step)  # no sync
            step += 1
            if step % 100 == 0 or step == args.steps:
                accelerator.log(evaluate(model, test), step=step - 1)
            if step == args.steps:
                break

    run = logger.run  # the tracker.Run (None on the processes that do not log)
    accelerator.end_training()
    if run is not None:
        print(f"run {run.id} ({run.name}) in {run.db_path}")
        print(f"browse it: tracker --db {shlex.quote(str(run.db_path))}")


@torch.no_grad()
def evaluate(model: nn.Module, loader: torch.utils.data.DataLoader) -> dict[str, torch.Tensor]:
    model.eval()
    losses, hits, count = [], 0, 0
    for x, y in loader:
        logits = model(x)
        losses.append(nn.functional.cross_entropy(logits, y, reduction="sum"))
        hits = hits + (logits.argmax(1) == y).sum()
        count += len(y)
    model.train()
    return {"eval/loss": torch.stack(losses).sum() / count, "eval/acc": hits / count}


if __name__ == "__main__":
    main()
