"""Which metrics' charts open first: the user's losses and accuracies, then hooks' diagnostics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from ..read import common_keys
from ..records import KeyInfo, RunInfo

# The first part of the keys the framework hooks log about the model itself (activation stats,
# gradient and weight norms): charts of the user's own metrics open before them.
HOOK_PREFIXES = ("act_", "grad_norm", "weight_norm", "update_ratio", "grads", "weights")


@dataclass
class _LoggedKeys:
    """What ``query.common_keys`` reads of a run: the keys it logged."""

    last: dict[str, float]


def is_hook_key(key: str) -> bool:
    """Whether ``key`` is a diagnostic a hook logged (``act_mean/fc1``, ``grad_norm/w``)."""
    return key.split("/", 1)[0].startswith(HOOK_PREFIXES)


def preferred_keys(keys_by_run: dict[str, list[KeyInfo]]) -> list[str]:
    """Keys in the order charts open by default, ranked as ``query.common_keys`` ranks the runs
    table's columns (logged by the most runs first, then losses, then accuracies, then the
    shallowest), with the hooks' diagnostics after the user's own metrics: a key only one
    compared run has, or an all-zero activation stat, does not open first.
    """
    runs = [_LoggedKeys({k.key: 0.0 for k in infos}) for infos in keys_by_run.values()]
    return sorted(common_keys(cast("list[RunInfo]", runs)), key=is_hook_key)


def first_key(keys_by_run: dict[str, list[KeyInfo]]) -> str | None:
    """The key whose chart opens first."""
    keys = preferred_keys(keys_by_run)
    return keys[0] if keys else None
