"""The hooks' documented import paths still resolve, and each framework's package loads no other one."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from types import ModuleType

import pytest

# Every name the README, docs/ and examples import from the hooks (and what `tj.` offered).
DOCUMENTED = {
    "tracker.hooks.torch": [
        "watch", "unwatch", "profile", "log_graph", "init_distributed", "DistributedRun",
        "rank_and_world", "Watcher", "ProfileWindow", "capture_graph",
    ],
    "tracker.hooks.keras": ["TrackerCallback"],
    "tracker.hooks.tf": ["TFLogger"],
    "tracker.hooks.jax": [
        "log", "log_graph", "log_module", "profile", "pack", "PackedMetrics", "JaxProfile",
        "flatten_metrics", "grad_norms", "grad_norms_callback", "log_grad_norms",
        "flush_callbacks", "capture_graph", "is_nnx_module", "module_graph",
    ],
    "tracker.hooks.lightning": ["TrackerLogger", "LIGHTNING"],
    "tracker.hooks.transformers": [
        "TrackerCallback", "RUN_FILE", "RUN_ID_ENV", "SUMMARY_KEYS", "rewrite_keys",
    ],
    "tracker.hooks.accelerate": ["TrackerAccelerate"],
}


def _import_all(name: str) -> ModuleType:
    """Import a hook module and, for a package, every module inside it."""
    module = importlib.import_module(name)
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), f"{name}."):
        importlib.import_module(info.name)
    return module


@pytest.mark.parametrize("module_name", sorted(DOCUMENTED))
def test_every_documented_name_still_resolves(module_name: str) -> None:
    # Submodules first: importing `tracker.hooks.torch.watch` sets the package attribute `watch`,
    # which must stay the function `from tracker.hooks.torch import watch` documents.
    module = _import_all(module_name)
    for name in [*DOCUMENTED[module_name], *getattr(module, "__all__", [])]:
        value = getattr(module, name)
        assert not isinstance(value, ModuleType), f"{module_name}.{name} is a module"


def test_the_torch_and_jax_entry_points_are_the_functions() -> None:
    from tracker.hooks import jax as tj
    from tracker.hooks.torch import profile, watch

    assert (watch.__module__, profile.__module__) == ("tracker.hooks.torch",) * 2
    assert callable(tj.profile) and tj.profile.__module__ == "tracker.hooks.jax"


def _top_modules_after_importing(package: str, backend: str = "jax") -> set[str]:
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
        "print(' '.join(m for m in sys.modules if m.startswith('torch.utils.tensorboard')))"
    )
    env = {**os.environ, "KERAS_BACKEND": backend}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, timeout=300)
    top, tensorboard_writer = (out.stdout.splitlines() + ["", ""])[:2]
    assert tensorboard_writer == "", tensorboard_writer
    return set(top.split())


OTHERS = {"lightning", "pytorch_lightning", "transformers", "accelerate", "tensorboardX", "flax"}


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("tracker.hooks.torch", {"tensorflow", "jax", "keras"}),
        ("tracker.hooks.jax", {"tensorflow", "torch", "keras"}),
        ("tracker.hooks.keras", {"tensorflow", "torch"}),  # on the JAX backend
        ("tracker.hooks._shared", {"tensorflow", "torch", "jax", "keras", "numpy"}),
    ],
)
def test_a_hook_package_loads_no_other_framework(package: str, forbidden: set[str]) -> None:
    loaded = _top_modules_after_importing(package)
    assert not loaded & (forbidden | OTHERS), loaded & (forbidden | OTHERS)
