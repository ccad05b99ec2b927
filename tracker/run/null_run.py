"""NullRun: the run a DDP rank that does not log gets; it accepts every call and stores nothing."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from ..graph import Graph
from ..profile import Profile


class NullRun:
    """A run that stores nothing: what ``init()`` returns on DDP ranks other than 0 by default.

    Every logging call is accepted and ignored, so the same script runs unchanged on every rank.
    A standalone class implementing ``tracker.contract.RunLike`` (not a ``Run`` without its
    ``__init__``): nothing of a real run's state has to be mirrored here.
    """

    disabled = True
    attached = False
    strict = False

    def __init__(self, project: str = "default", name: str | None = None) -> None:
        self.db_path = Path(os.devnull)
        self.id = ""
        self.project = project
        self.name = name or ""
        self.group: str | None = None
        self.config: dict[str, Any] = {}
        self.tags: list[str] = []
        self.finished = False
        self.finishing = False

    @property
    def step(self) -> int | None:
        """Always None: nothing is logged."""
        return None

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Ignored."""

    def log_series(self, key: str, steps: Any, values: Any, walls: Any = None) -> None:
        """Ignored."""

    def log_sample(self, values: dict[str, float]) -> None:
        """Ignored."""

    def log_console(self, lines: list[tuple[str, float, int | None, str]]) -> None:
        """Ignored."""

    def log_image(self, key: str, value: Any, step: int | None = None,
                  caption: str | None = None, *, wall: float | None = None) -> None:
        """Ignored."""

    def log_histogram(self, key: str, values: Any, step: int | None = None, *, bins: int = 64,
                      wall: float | None = None) -> None:
        """Ignored."""

    def log_text(self, key: str, text: str, step: int | None = None, *,
                 wall: float | None = None) -> None:
        """Ignored."""

    def log_graph(self, graph: Graph) -> None:
        """Ignored."""

    def log_profile(self, profile: Profile) -> None:
        """Ignored."""

    def set_summary(self, **values: Any) -> None:
        """Ignored."""

    def update_config(self, values: Any) -> None:
        """Ignored."""

    def add_flush_hook(self, hook: Callable[[], None]) -> None:
        """Ignored (nothing is ever written)."""

    def remove_flush_hook(self, hook: Callable[[], None]) -> None:
        """Ignored."""

    def flush(self) -> bool:
        """Nothing to write: True."""
        return True

    def finish(self, status: str = "finished") -> None:
        """Mark the run finished (nothing else happens)."""
        self.finishing = True
        self.finished = True

    def __enter__(self) -> NullRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.finish()

    def __repr__(self) -> str:
        return "<DisabledRun (this rank does not log)>"


DisabledRun = NullRun  # the public name since the first release (tracker.DisabledRun)
