"""tracker: a terminal-first experiment tracker. Log with ``tracker.init()``; browse with ``tracker``.

Importing this package is cheap: everything below loads on first use (no framework, no Textual).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .run.null_run import NullRun
    from .run.run import Run

_current: Run | NullRun | None = None

_LAZY = {
    "Run": ("run.run", "Run"),
    "Graph": ("graph", "Graph"),
    "GraphNode": ("graph", "GraphNode"),
    "Profile": ("profile", "Profile"),
    "ProfileOp": ("profile", "ProfileOp"),
    "Histogram": ("records", "Histogram"),
    "DisabledRun": ("run.null_run", "DisabledRun"),
    "NullRun": ("run.null_run", "NullRun"),
    "Reader": ("read", "Reader"),
    "export_tensorboard": ("tensorboard.export", "export_tensorboard"),
    "import_tensorboard": ("tensorboard.importer", "import_tensorboard"),
    "TrackerError": ("errors", "TrackerError"),
    "StoreError": ("errors", "StoreError"),
    "RunNotFoundError": ("errors", "RunNotFoundError"),
    "NoActiveRunError": ("errors", "NoActiveRunError"),
    "open": ("read", "open_store"),
    "open_store": ("read", "open_store"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tracker' has no attribute {name!r}")


def init(
    project: str = "default",
    name: str | None = None,
    config: Any = None,
    *,
    tags: list[str] | None = None,
    group: str | None = None,
    notes: str | None = None,
    db: str | os.PathLike[str] | None = None,
    resume: str | None = None,
    strict: bool = False,
    ranks: str = "zero",
    system: bool | None = None,
    console: bool | None = None,
    system_interval: float = 10.0,
    console_max_bytes: int | None = None,
) -> Run:
    """Start (or with ``resume=RUN_ID`` continue) a run and make it the current run.

    Args:
        project: groups runs in the app and in exports.
        name: a readable name; default like 'swift-otter-3'.
        config: a JSON-able nested dict (or dataclass / argparse.Namespace) of hyperparameters.
        tags: labels to filter on.
        group: groups related runs (a sweep, DDP ranks).
        notes: free text.
        db: the store file; default $TRACKER_DB, else ./tracker.db.
        resume: the id of a run to append to.
        strict: raise storage errors instead of warning once and going on.
        ranks: under DDP/torchrun (``RANK`` set), "zero" makes every rank but 0 get a
            ``DisabledRun`` that stores nothing, so one run exists per job; "all" lets every
            rank create its own run (rank recorded), e.g. with ``group=`` to keep them together.
        system: sample CPU, memory, disk, network and NVIDIA GPUs into ``sys/...`` series
            (default on; see docs/system-and-console.md).
        console: store what the process prints to stdout/stderr, fd-level (default on); the
            terminal shows exactly what it showed without it. ``tracker logs RUN`` reads it.
        system_interval: seconds between system samples (the first comes within 2 s).
        console_max_bytes: the console text stored per run (default 100 MB); past it, output
            is still shown but not stored.
    """
    from .run import capture as run_capture
    from .run.null_run import NullRun
    from .run.run import Run

    global _current
    if ranks not in ("zero", "all"):
        raise ValueError(f"ranks must be 'zero' or 'all', not {ranks!r}")
    run_capture.check_options(system_interval, console_max_bytes)
    if ranks == "zero" and _env_rank() > 0:
        _current = NullRun(project, name)
        return _current
    run = Run(
        project=project,
        name=name,
        config=config,
        tags=tags,
        group=group,
        notes=notes,
        db=db,
        resume=resume,
        strict=strict,
    )
    run_capture.start(run, system=system, console=console, system_interval=system_interval,
                      console_max_bytes=console_max_bytes)
    _current = run
    return run


def _env_rank() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def attach(run_id: str, *, db: str | os.PathLike[str] | None = None) -> Run:
    """Log into a run that another process owns (another DDP rank, a helper process).

    The returned run appends points like the owner's; its ``finish()`` only flushes and leaves the
    run's status to the owner.
    """
    from .run.run import Run

    return Run(db=db, attach=run_id)


def current_run() -> Run | None:
    """The run started by the last ``init()`` if it has not finished, else None."""
    if _current is not None and _current.finished:
        return None
    return _current


def run_or_current(run: Run | None = None, what: str = "this call") -> Run:
    """``run`` if given, else the current run (for hooks that take an optional run).

    Raises:
        NoActiveRunError: no run given and none started with ``tracker.init()``.
    """
    if run is not None:
        return run
    current = current_run()
    if current is None:
        from .errors import NoActiveRunError

        raise NoActiveRunError(f"{what} needs a run: call tracker.init() first or pass run=")
    return current


def _require_run() -> Run:
    return run_or_current(None, "logging")


def log(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Log scalar metrics to the current run (see ``Run.log``)."""
    _require_run().log(metrics, step)


def log_histogram(key: str, values: Any, step: int | None = None, *, bins: int = 64) -> None:
    """Log a histogram to the current run (see ``Run.log_histogram``)."""
    _require_run().log_histogram(key, values, step, bins=bins)


def log_text(key: str, text: str, step: int | None = None) -> None:
    """Log a text to the current run (see ``Run.log_text``)."""
    _require_run().log_text(key, text, step)


def log_image(key: str, value: Any, step: int | None = None, caption: str | None = None) -> None:
    """Log an image to the current run (see ``Run.log_image``)."""
    _require_run().log_image(key, value, step, caption)


def finish(status: str = "finished") -> None:
    """Finish the current run (a no-op when there is none)."""
    global _current
    if _current is not None:
        _current.finish(status)
        _current = None


__all__ = [
    "DisabledRun",
    "attach",
    "export_tensorboard",
    "import_tensorboard",
    "Graph",
    "GraphNode",
    "Histogram",
    "NoActiveRunError",
    "NullRun",
    "Profile",
    "ProfileOp",
    "Reader",
    "Run",
    "RunNotFoundError",
    "StoreError",
    "TrackerError",
    "current_run",
    "finish",
    "init",
    "log",
    "log_histogram",
    "log_image",
    "log_text",
    "open",
    "open_store",
    "run_or_current",
]
