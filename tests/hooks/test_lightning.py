"""TrackerLogger with a real Lightning Trainer on a tiny model; the clear error without Lightning."""

from __future__ import annotations

import subprocess
import sys

import lightning  # a test dependency (the `test` extra)
import torch

import tracker
from tracker.hooks.lightning import TrackerLogger

torch.set_num_threads(1)


class Regressor(lightning.LightningModule):
    def __init__(self, lr: float = 0.1, hidden: int = 16, optim: dict | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(8, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
        )
        self.example_input_array = torch.randn(2, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def _fit(logger: TrackerLogger, epochs: int = 2) -> None:
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(64, 8), torch.randn(64, 1))
    trainer = lightning.Trainer(
        max_epochs=epochs, logger=logger, log_every_n_steps=1, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1,
    )
    trainer.fit(
        Regressor(lr=0.05, optim={"momentum": 0.9}),
        torch.utils.data.DataLoader(data, batch_size=8),
    )


def test_trainer_logs_metrics_hyperparameters_and_graph(db_path) -> None:
    logger = TrackerLogger(project="lit", name="first", db=db_path, tags=["lightning"])
    _fit(logger)
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        keys = {k.key: k for k in store.keys(run.id)}
        graphs = store.graphs(run.id)
    assert (run.project, run.name, run.status, run.tags) == ("lit", "first", "finished", ["lightning"])
    assert run.config == {"lr": 0.05, "hidden": 16, "optim": {"momentum": 0.9}}
    assert keys["train/loss"].count == 16  # 8 batches x 2 epochs, logged every step
    assert keys["train/loss"].first_step == 0 and keys["train/loss"].last_step == 15
    assert keys["epoch"].last_value == 1.0
    assert len(graphs) == 1 and graphs[0].total_params == 8 * 16 + 16 + 16 + 1
    assert logger.version == run.id and logger.name == "lit"


def test_logger_into_an_existing_run(db_path) -> None:
    run = tracker.init("lit", config={"seed": 1}, db=db_path)
    _fit(TrackerLogger(run=run, graph=False), epochs=1)
    with tracker.open_store(db_path) as store:
        info = store.run(run.id)
        assert store.graphs(run.id) == []
    assert info.config["seed"] == 1 and info.config["lr"] == 0.05  # merged, not replaced
    assert info.status == "finished" and "train/loss" in info.last


def test_without_lightning_using_the_logger_says_what_to_install(tmp_path) -> None:
    code = (
        "import sys\n"
        "for name in ('lightning', 'pytorch_lightning'):\n"
        "    sys.modules[name] = None  # as if neither were installed\n"
        "from tracker.hooks.lightning import TrackerLogger, LIGHTNING\n"
        "assert LIGHTNING == ''\n"
        "try:\n"
        "    TrackerLogger(project='x')\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install lightning" in out.stdout
