"""``TrackerAccelerate``: an ``accelerate`` tracker (``GeneralTracker``) that logs into a tracker run.

    from tracker.hooks.accelerate import TrackerAccelerate

    accelerator = Accelerator(log_with=[TrackerAccelerate(project="sst2")])
    accelerator.init_trackers("sst2", config=vars(args))
    accelerator.log({"loss": loss}, step=step)   # a tensor: read by the writer thread, no sync
    accelerator.end_training()                   # the run is finished

Main process only (``accelerate``'s own rule for trackers): every other process stores nothing.
Values go to ``run.log`` as they are, so a CUDA tensor is never read on the training thread.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from accelerate.state import PartialState
from accelerate.tracking import GeneralTracker

import tracker

from ..contract import RunLike


class TrackerAccelerate(GeneralTracker):
    """Log ``accelerator.log`` calls into a tracker run, created by ``init_trackers`` on the main process."""

    name = "tracker"
    requires_logging_directory = False
    main_process_only = True

    def __init__(
        self,
        project: str = "default",
        name: str | None = None,
        *,
        config: Any = None,
        db: str | os.PathLike[str] | None = None,
        run: RunLike | None = None,
        **init_kwargs: Any,
    ) -> None:
        """Args: ``project``/``name``/``config``/``db`` and other ``tracker.init`` keywords (tags,
        group, notes, resume, strict); or ``run=`` an existing run to log into (yours to finish)."""
        super().__init__()
        self._project, self._name, self._config = project, name, config
        self._db, self._init_kwargs = db, init_kwargs
        self._user_run = run
        self.run: RunLike | None = run
        self._main: bool | None = None  # whether this is the main process (asked once)

    @property
    def tracker(self) -> RunLike | None:
        """The ``tracker.Run`` (None on the other processes, or before ``init_trackers``)."""
        return self.run

    def _is_main(self) -> bool:
        if self._main is None:  # a process's rank does not change: ask accelerate once
            self._main = PartialState().is_main_process
        return self._main

    def start(self) -> None:
        """Create the run (``Accelerator.init_trackers`` calls this on the main process)."""
        if self.run is None and self._is_main():
            self.run = tracker.init(
                self._project, self._name, self._config, db=self._db, ranks="all",
                **self._init_kwargs,
            )

    def store_init_configuration(self, values: Mapping[str, Any]) -> None:
        """Merge ``init_trackers(config=...)`` into the run's config."""
        if self.run is not None and self._is_main():
            self.run.update_config(values)

    def log(self, values: Mapping[str, Any], step: int | None = None, **kwargs: Any) -> None:
        """Log scalars (numbers or one-element tensors of any framework, nested dicts) at ``step``;
        strings are logged as text."""
        run = self.run
        if run is None or not self._is_main():
            return
        if any(type(v) is str for v in values.values()):
            texts = {k: v for k, v in values.items() if type(v) is str}
            values = {k: v for k, v in values.items() if k not in texts}
            if step is None:  # the texts and the numbers share the step log() would take
                step = 0 if run.step is None else run.step + 1
            for key, text in texts.items():
                run.log_text(key, text, step)
            if not values:
                return
        run.log(values if type(values) is dict else dict(values), step)

    def finish(self) -> None:
        """Finish the run (``Accelerator.end_training``); a run passed as ``run=`` is only flushed."""
        if self.run is None or not self._is_main():
            return
        if self.run is self._user_run:
            self.run.flush()
            return
        run, self.run = self.run, None
        run.finish()


__all__ = ["TrackerAccelerate"]
