"""The write side: ``Run``, the null run, the buffer (one publish rule), device values, the process
lifecycle (atexit, SIGTERM), the flusher thread and the per-run writer, which hands plain arrays
and records to the store's backend. Loaded on first use (``tracker.Run``, ``tracker.init``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .null_run import DisabledRun, NullRun
    from .run import Run

__all__ = ["DisabledRun", "NullRun", "Run"]


def __getattr__(name: str) -> Any:
    if name == "Run":
        from .run import Run

        return Run
    if name in ("NullRun", "DisabledRun"):
        from . import null_run

        return getattr(null_run, name)
    raise AttributeError(f"module 'tracker.run' has no attribute {name!r}")
