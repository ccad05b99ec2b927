"""Which metrics' charts open first: the user's losses and accuracies, then hooks' diagnostics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from ..read import common_keys, is_system_key
from ..records import KeyInfo, RunInfo

# The first part of the keys the framework hooks log about the model itself (activation stats,
# gradient and weight norms): charts of the user's own metrics open before them.
HOOK_PREFIXES = ("act_", "grad_norm", "weight_norm", "update_ratio", "grads", "weights")


@dataclass
class _LoggedKeys:
    """What ``read.common_keys`` reads of a run: the keys it logged."""

    last: dict[str, float]


# The System tab's charts open in this order: what nvidia-smi and htop show first.
_SYSTEM_ORDER = ("util_percent", "memory_percent", "sys/cpu_percent", "sys/memory_percent",
                 "sys/proc/cpu_percent", "sys/proc/rss_mib", "temperature_c", "power_w",
                 "sys/disk/", "sys/net/")


def system_rank(key: str) -> int:
    """Where a sys/ key's chart opens among the system charts (0 for any other key)."""
    if not is_system_key(key):
        return 0
    gpu = key.startswith("sys/gpu")
    for i, part in enumerate(_SYSTEM_ORDER):
        if (gpu and i < 2 and key.endswith("/" + part)) or (i >= 2 and part in key):
            return i
    return len(_SYSTEM_ORDER)


def is_hook_key(key: str) -> bool:
    """Whether ``key`` is a diagnostic a hook logged (``act_mean/fc1``, ``grad_norm/w``)."""
    return key.split("/", 1)[0].startswith(HOOK_PREFIXES)


def preferred_keys(keys_by_run: dict[str, list[KeyInfo]]) -> list[str]:
    """Keys in the order charts open by default, ranked as ``read.common_keys`` ranks the runs
    table's columns (logged by the most runs first, then losses, then accuracies, then the
    shallowest), with the hooks' diagnostics after the user's own metrics: a key only one
    compared run has, or an all-zero activation stat, does not open first.
    """
    runs = [_LoggedKeys({k.key: 0.0 for k in infos}) for infos in keys_by_run.values()]
    return sorted(common_keys(cast("list[RunInfo]", runs)),
                  key=lambda k: (is_hook_key(k), is_system_key(k), system_rank(k)))


def first_key(keys_by_run: dict[str, list[KeyInfo]]) -> str | None:
    """The key whose chart opens first."""
    keys = preferred_keys(keys_by_run)
    return keys[0] if keys else None
