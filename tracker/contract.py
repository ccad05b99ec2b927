"""``RunLike``: the run contract framework hooks program against (a ``Run``, the null run, a DDP view).

Structural: ``tracker.Run``, the null run a rank that does not log gets, and the hooks' own
``DistributedRun`` satisfy it by having these members, without importing or subclassing it, so
this module stays free of the run side. Signatures match ``tracker.run.Run``; a hook may rely on
every member being there (no ``getattr``/``hasattr`` probes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path
    from types import TracebackType

    from .graph import Graph
    from .profile import Profile

__all__ = ["RunLike"]


class RunLike(Protocol):
    """What a hook may ask of the run it logs into."""

    @property
    def id(self) -> str:
        """The run's id ('' for a run that stores nothing)."""
        ...

    @property
    def db_path(self) -> Path:
        """The store the run lives in (what ``tracker.attach(run.id, db=...)`` takes)."""
        ...

    @property
    def step(self) -> int | None:
        """The highest step logged so far (None before the first ``log()``)."""
        ...

    @property
    def disabled(self) -> bool:
        """True for a run that stores nothing (a DDP rank that does not log): capture nothing."""
        ...

    @property
    def finished(self) -> bool:
        """True once ``finish()`` has run: later calls are ignored (with a warning)."""
        ...

    @property
    def finishing(self) -> bool:
        """True from the start of ``finish()``, while its flush hooks run (a finish, not a flush)."""
        ...

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Scalar metrics at ``step`` (default: one past the highest step so far)."""
        ...

    def log_histogram(
        self,
        key: str,
        values: Any,
        step: int | None = None,
        *,
        bins: int = 64,
        wall: float | None = None,
    ) -> None:
        """A histogram of ``values`` (an array-like or a ``Histogram``) at ``step``."""
        ...

    def log_text(
        self, key: str, text: str, step: int | None = None, *, wall: float | None = None
    ) -> None:
        """A text at ``step`` (default: the last step)."""
        ...

    def log_image(
        self,
        key: str,
        value: Any,
        step: int | None = None,
        caption: str | None = None,
        *,
        wall: float | None = None,
    ) -> None:
        """An image (array, batch, PIL image, figure, file path) at ``step`` (default: the last)."""
        ...

    def log_graph(self, graph: Graph) -> None:
        """Store a model graph with the run."""
        ...

    def log_profile(self, profile: Profile) -> None:
        """Store a profiler capture with the run."""
        ...

    def set_summary(self, **values: Any) -> None:
        """Merge values into the run's summary."""
        ...

    def update_config(self, values: Any) -> None:
        """Merge top-level keys into the run's config."""
        ...

    def add_flush_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` first in every ``flush()`` and ``finish()`` (exit and SIGTERM too)."""
        ...

    def remove_flush_hook(self, hook: Callable[[], None]) -> None:
        """Stop calling ``hook`` (no error when it is not registered)."""
        ...

    def flush(self) -> bool:
        """Write everything buffered now; True when it reached the store."""
        ...

    def finish(self, status: str = "finished") -> None:
        """Write everything buffered and mark the run ``status``; safe to call twice."""
        ...

    def __enter__(self) -> RunLike:
        """A run is a context manager: ``with tracker.init(...) as run:``."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Finish the run: 'finished', or 'killed' (KeyboardInterrupt) / 'failed' on an error."""
        ...
