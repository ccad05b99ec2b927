"""The run a hook logs into: the one it was given, else the current one, typed as the run contract."""

from __future__ import annotations

import tracker

from ...contract import RunLike


def run_or_current(run: RunLike | None, what: str) -> RunLike:
    """``run`` if given, else ``tracker.init()``'s current run.

    Raises:
        NoActiveRunError: no run given and none started with ``tracker.init()``.
    """
    return run if run is not None else tracker.run_or_current(None, what)
