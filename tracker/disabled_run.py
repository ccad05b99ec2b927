"""DisabledRun: the run a DDP rank that does not log gets; it accepts every call and stores nothing."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .run import Run


class DisabledRun(Run):
    """A run that stores nothing: what ``init()`` returns on DDP ranks other than 0 by default.

    Every logging call is accepted and ignored, so the same script runs unchanged on every rank.
    """

    def __init__(self, project: str = "default", name: str | None = None) -> None:
        self.db_path = Path(os.devnull)
        self.strict = False
        self.finished = False
        self.disabled = True
        self.attached = False
        self.finishing = False
        self.id = ""
        self.project = project
        self.name = name or ""
        self.group = None
        self.config: dict[str, Any] = {}
        self.tags: list[str] = []
        self._next_step = 0
        self._writer = None  # nothing is ever written

    @property
    def step(self) -> int | None:
        return None

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Ignored."""

    def _record(self, kind: str, payload: Any) -> None:
        """Ignored."""

    def log_histogram(self, key: str, values: Any, step: int | None = None, **kw: Any) -> None:
        """Ignored."""

    def log_image(self, key: str, value: Any, step: int | None = None,
                  caption: str | None = None, *, wall: float | None = None) -> None:
        """Ignored."""

    def log_series(self, key: str, steps: Any, values: Any, walls: Any = None) -> None:
        """Ignored."""

    def log_sample(self, values: dict[str, float]) -> None:
        """Ignored."""

    def add_flush_hook(self, hook: Callable[[], None]) -> None:
        """Ignored (nothing is ever written)."""

    def remove_flush_hook(self, hook: Callable[[], None]) -> None:
        """Ignored."""

    def flush(self) -> bool:
        return True

    def finish(self, status: str = "finished") -> None:
        self.finished = True

    def __repr__(self) -> str:
        return "<DisabledRun (this rank does not log)>"
