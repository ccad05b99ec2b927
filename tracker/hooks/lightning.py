"""``TrackerLogger``: a Lightning logger (``lightning`` or ``pytorch_lightning``) writing to tracker.

    from tracker.hooks.lightning import TrackerLogger

    trainer = lightning.Trainer(logger=TrackerLogger(project="mnist"), max_epochs=3)

Metrics go to ``run.log`` at the trainer's global step, hyperparameters to the run's config, the
model graph (``log_graph``) through ``tracker.hooks.torch.log_graph``, images with
``self.logger.log_image(key, images=[...], step=..., caption=[...])`` (the convention of
Lightning's W&B and Neptune loggers). Only rank 0 logs.
"""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

import tracker

from ..contract import RunLike

_INSTALL = (
    "TrackerLogger needs Lightning: pip install lightning (or pytorch-lightning); "
    "for plain PyTorch loops use tracker.hooks.torch.watch"
)

try:  # the unified package first, then the older standalone one
    from lightning.pytorch.loggers.logger import Logger as _Logger
    from lightning.pytorch.loggers.logger import rank_zero_experiment
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    LIGHTNING = "lightning"
except ModuleNotFoundError:
    try:
        from pytorch_lightning.loggers.logger import Logger as _Logger  # type: ignore[no-redef]
        from pytorch_lightning.loggers.logger import (  # type: ignore[no-redef]
            rank_zero_experiment,
        )
        from pytorch_lightning.utilities.rank_zero import rank_zero_only  # type: ignore[no-redef]

        LIGHTNING = "pytorch_lightning"
    except ModuleNotFoundError:
        LIGHTNING = ""

if LIGHTNING:

    class TrackerLogger(_Logger):
        """Log a Lightning ``Trainer`` into a tracker run (created on first use, on rank 0)."""

        def __init__(
            self,
            project: str = "default",
            name: str | None = None,
            *,
            config: Any = None,
            db: str | os.PathLike[str] | None = None,
            run: RunLike | None = None,
            graph: bool = True,
            **init_kwargs: Any,
        ) -> None:
            """Args: ``project``/``name``/``config``/``db`` and other ``tracker.init`` keywords
            (tags, group, notes...); or ``run=`` an existing run to log into; ``graph=False``
            skips the model graph."""
            super().__init__()
            self._graph = graph
            self._project, self._name, self._config = project, name, config
            self._db, self._init_kwargs = db, init_kwargs
            self._run = run

        @property
        @rank_zero_experiment
        def experiment(self) -> RunLike:
            """The ``tracker.Run`` (created on first access)."""
            if self._run is None:
                self._run = tracker.init(
                    self._project, self._name, self._config, db=self._db, **self._init_kwargs
                )
            return self._run

        @property
        def name(self) -> str:
            """The project (Lightning's experiment name)."""
            return self._project

        @property
        def version(self) -> str:
            """The run id."""
            return str(self.experiment.id)

        @property
        def save_dir(self) -> str | None:
            """None: checkpoints go to the trainer's default_root_dir (the run lives in the db)."""
            return None

        @rank_zero_only
        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            """Merge hyperparameters (dict or Namespace, nested allowed) into the run's config."""
            if isinstance(params, Namespace):
                params = vars(params)
            if params is None:
                return
            if not isinstance(params, Mapping):
                params = {"hparams": params}
            self.experiment.update_config(dict(params))

        @rank_zero_only
        def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
            """Log a dict of metrics (tensors welcome) at the trainer's step."""
            if metrics:
                self.experiment.log(dict(metrics), step=step)

        @rank_zero_only
        def log_image(self, key: str, images: Any, step: int | None = None,
                      caption: Any = None, **kwargs: Any) -> None:
            """Log a list of images (anything ``run.log_image`` takes) with optional captions.

            One image goes under ``key``; several under ``key/0``, ``key/1``... each with its
            own caption (a list as long as ``images``), so each keeps its caption and size. A
            batch array is one image (tiled into one grid). Other keywords (W&B's ``masks``,
            ``file_type``...) are ignored.
            """
            if not isinstance(images, (list, tuple)):
                raise TypeError(f"log_image({key!r}): images must be a list (Lightning's "
                                f"convention), not {type(images).__name__}; wrap one image in [ ]")
            captions = list(caption) if isinstance(caption, (list, tuple)) else None
            if captions is not None and len(captions) != len(images):
                raise ValueError(f"log_image({key!r}): {len(images)} images but "
                                 f"{len(captions)} captions")
            run = self.experiment
            for i, image in enumerate(images):
                name = key if len(images) == 1 else f"{key}/{i}"
                text = captions[i] if captions is not None else caption
                run.log_image(name, image, step, None if text is None else str(text))

        @rank_zero_only
        def log_graph(self, model: Any, input_array: Any = None) -> None:
            """Store the model graph (example input: ``input_array`` or ``model.example_input_array``)."""
            if not self._graph:
                return
            from .torch import log_graph

            example = input_array if input_array is not None else getattr(
                model, "example_input_array", None
            )
            log_graph(model, example, run=self.experiment)

        @rank_zero_only
        def save(self) -> None:
            """Make everything logged so far readable by others."""
            if self._run is not None:
                self._run.flush()

        @rank_zero_only
        def finalize(self, status: str) -> None:
            """Finish the run: 'success' -> finished, anything else -> failed."""
            if self._run is not None and not self._run.finished:
                self._run.finish("finished" if status == "success" else "failed")

else:

    class TrackerLogger:  # type: ignore[no-redef]
        """Stand-in when Lightning is not installed: using it says what to install."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ModuleNotFoundError(_INSTALL)


__all__ = ["LIGHTNING", "TrackerLogger"]
