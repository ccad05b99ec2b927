"""What a torch model is wrapped in and what its modules return: the user's module inside
``torch.compile``/DDP wrappers, and the first tensor of an output."""

from __future__ import annotations

from typing import Any, cast

import torch


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The user's module inside ``torch.compile`` and DistributedDataParallel wrappers."""
    inner = model
    for _ in range(4):
        compiled = getattr(inner, "_orig_mod", None)
        if isinstance(compiled, torch.nn.Module):
            inner = compiled  # torch.compile's OptimizedModule
        elif type(inner).__name__ in ("DistributedDataParallel", "DataParallel"):
            inner = cast(torch.nn.Module, inner.module)
        else:
            break
    return inner


def is_compiled(model: torch.nn.Module) -> bool:
    """True for a ``torch.compile``d module (or one wrapping it)."""
    while True:
        if hasattr(model, "_orig_mod"):
            return True
        if type(model).__name__ not in ("DistributedDataParallel", "DataParallel"):
            return False
        model = cast(torch.nn.Module, model.module)


def first_tensor(out: Any) -> torch.Tensor | None:
    """The first tensor in a module's output (a tensor, or nested lists, tuples, dicts)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (list, tuple)):
        for item in out:
            found = first_tensor(item)
            if found is not None:
                return found
    if isinstance(out, dict):
        for item in out.values():
            found = first_tensor(item)
            if found is not None:
                return found
    return None
