"""TrackerLogger with a real Lightning Trainer on a tiny model; the clear error without Lightning."""

from __future__ import annotations

import subprocess
import sys

import lightning  # a test dependency (the `test` extra)
import pytest
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


class ImageLogger(Regressor):
    """Logs its input batch as images at the end of each epoch, the Lightning way."""

    def on_train_epoch_end(self) -> None:
        first = torch.rand(3, 4, 4)
        self.logger.log_image("inputs", images=[first, first.numpy().transpose(1, 2, 0)],
                              caption=[f"epoch {self.current_epoch}", "numpy"],
                              step=self.current_epoch)
        self.logger.log_image("one", [torch.zeros(1, 2, 2)], step=self.current_epoch)


def test_log_image_takes_a_list_of_images_and_captions(db_path) -> None:
    logger = TrackerLogger(project="lit", db=db_path)
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(16, 8), torch.randn(16, 1))
    trainer = lightning.Trainer(
        max_epochs=2, logger=logger, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", devices=1,
    )
    trainer.fit(ImageLogger(), torch.utils.data.DataLoader(data, batch_size=8))
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        assert store.image_keys(run.id) == ["inputs/0", "inputs/1", "one"]
        assert store.image_steps(run.id, "inputs/0") == [0, 1]
        first, second = store.image(run.id, "inputs/0", 1), store.image(run.id, "inputs/1", 1)
        assert (first.caption, second.caption) == ("epoch 1", "numpy")
        assert first.data == second.data  # the same pixels, channels-first and channels-last
        assert store.image(run.id, "one", 0).caption is None
    logger = TrackerLogger(project="lit", db=db_path)
    try:
        with pytest.raises(TypeError, match=r"images must be a list .*wrap one image in \[ \]"):
            logger.log_image("x", torch.zeros(3, 2, 2))
        with pytest.raises(ValueError, match=r"2 images but 1 captions"):
            logger.log_image("x", [torch.zeros(3, 2, 2)] * 2, caption=["a"])
    finally:
        logger.finalize("success")
