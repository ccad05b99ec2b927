"""TrackerAccelerate with a real ``accelerate.Accelerator(cpu=True)`` and a tiny torch loop."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from accelerate.state import PartialState
from accelerate.tracking import GeneralTracker

import tracker
from tracker.hooks.accelerate import TrackerAccelerate

torch.set_num_threads(1)


def train(accelerator: Accelerator, steps: int = 12) -> list[float]:
    """A small regression loop that logs through ``accelerator.log``; returns the losses."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    data = torch.utils.data.TensorDataset(torch.randn(48, 4), torch.randn(48, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    model, opt, loader = accelerator.prepare(model, opt, loader)
    losses = []
    for step, (x, y) in enumerate(loader):
        if step == steps:
            break
        loss = torch.nn.functional.mse_loss(model(x), y)
        accelerator.backward(loss)
        opt.step()
        opt.zero_grad()
        accelerator.log(
            {"train/loss": loss.detach(), "lr": 0.05, "count": np.int64(step),
             "nested": {"half": loss.detach() / 2}},
            step=step,
        )
        losses.append(float(loss.detach()))
    return losses


def test_logs_config_tensors_and_finishes(db_path) -> None:
    logger = TrackerAccelerate(project="acc", name="loop", db=db_path, tags=["accelerate"])
    accelerator = Accelerator(cpu=True, log_with=[logger])
    accelerator.init_trackers("acc", config={"lr": 0.05, "layers": [8]})
    losses = train(accelerator)
    accelerator.log({"note": "done", "final": losses[-1]})  # text beside a number, implicit step
    assert accelerator.get_tracker("tracker").tracker is logger.run
    accelerator.end_training()
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        loss = store.series(run.id, "train/loss")
        half = store.series(run.id, "nested/half")
        (note,) = store.texts(run.id, "note")
        final = store.series(run.id, "final")
    assert (run.project, run.name, run.status, run.tags) == ("acc", "loop", "finished", ["accelerate"])
    assert run.config == {"lr": 0.05, "layers": [8]}
    assert loss.steps.tolist() == list(range(12))
    assert loss.values.tolist() == pytest.approx(losses)
    assert half.values.tolist() == pytest.approx([v / 2 for v in losses])
    assert run.last["lr"] == 0.05 and run.last["count"] == 11
    assert final.steps.tolist() == [12] and (note.step, note.text) == (12, "done")
    assert logger.run is None  # finished and let go


def test_tensors_reach_the_run_as_they_are(db_path, monkeypatch) -> None:
    """No ``.item()`` on the way: the run gets the tensor itself (on a GPU, the writer reads it)."""
    logger = TrackerAccelerate(db=db_path)
    accelerator = Accelerator(cpu=True, log_with=[logger])
    accelerator.init_trackers("acc")
    seen: list[dict[str, Any]] = []
    original = logger.run.log
    monkeypatch.setattr(logger.run, "log", lambda values, step=None: (seen.append(values),
                                                                       original(values, step)))
    loss = torch.tensor(0.25)
    accelerator.log({"loss": loss}, step=3)
    accelerator.end_training()
    assert seen[0]["loss"] is loss


def test_other_processes_store_nothing(db_path, monkeypatch) -> None:
    monkeypatch.setattr(PartialState, "is_main_process", property(lambda self: False))
    logger = TrackerAccelerate(db=db_path)
    accelerator = Accelerator(cpu=True, log_with=[logger])
    accelerator.init_trackers("acc", config={"lr": 1})
    logger.start()  # even called directly, off the main process
    logger.store_init_configuration({"lr": 1})
    logger.log({"loss": 1.0}, step=0)
    train(accelerator, steps=2)
    accelerator.end_training()  # calls finish() on every process
    assert logger.run is None and logger.tracker is None
    assert not db_path.exists()


def test_a_run_passed_in_is_logged_into_and_left_open(db_path) -> None:
    run = tracker.init("mine", db=db_path, config={"seed": 1})
    accelerator = Accelerator(cpu=True, log_with=TrackerAccelerate(run=run))
    accelerator.init_trackers("ignored", config={"lr": 0.05})
    train(accelerator, steps=3)
    accelerator.end_training()
    run.log({"after": 1.0})
    run.finish()
    with tracker.open_store(db_path) as store:
        info = store.run(run.id)
    assert info.config == {"seed": 1, "lr": 0.05} and info.status == "finished"
    assert {"train/loss", "after"} <= set(info.last)


def test_is_a_general_tracker() -> None:
    logger = TrackerAccelerate()
    assert isinstance(logger, GeneralTracker)
    assert logger.name == "tracker" and logger.requires_logging_directory is False
    assert logger.main_process_only is True and logger.tracker is None


def test_example_trains_and_says_where_the_run_is(db_path, monkeypatch, capsys) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "accelerate_loop.py"
    monkeypatch.setattr(sys, "argv", [str(example), "--steps", "100", "--cpu", "--db", str(db_path)])
    runpy.run_path(str(example), run_name="__main__")
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        loss = store.series(run.id, "train/loss")
        acc = store.series(run.id, "eval/acc")
    assert run.status == "finished" and run.config["steps"] == 100
    assert loss.steps.tolist() == list(range(100)) and loss.values[-10:].mean() < loss.values[:10].mean()
    assert acc.steps.tolist() == [99] and acc.values[0] > 0.5  # 4 classes: it learned
    assert f"tracker --db {db_path}" in capsys.readouterr().out
