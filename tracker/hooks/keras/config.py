"""What a Keras ``fit()`` call was set up with: epochs, batch size, optimizer settings, loss, model.

Never imports TensorFlow: on the JAX and torch backends Keras's serialization (used by
``optimizer.get_config()`` for learning-rate schedules) would load it, so schedules are described
from their own ``get_config()`` there.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

_FIT_ARGS = ("batch_size", "epochs", "initial_epoch", "steps_per_epoch", "validation_split",
             "validation_steps", "validation_batch_size", "validation_freq", "shuffle")


def fit_config(model: Any, params: dict[str, Any] | None, backend: str) -> dict[str, Any]:
    """The ``config["keras"]`` section for a model about to be fitted."""
    section: dict[str, Any] = {"backend": backend, "fit": _fit_arguments(params)}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        section["optimizer"] = optimizer_config(optimizer)
    loss = getattr(model, "loss", None)
    if loss is not None:
        section["loss"] = _name_of(loss)
    section["model"] = {"name": model.name, "class": type(model).__name__}
    if getattr(model, "built", False):
        section["model"]["params"] = int(model.count_params())
    return section


def is_number(value: Any) -> bool:
    """A metric value we can store: a real number or a 0-d array (not a bool, not a string)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) or (
        hasattr(value, "shape") and getattr(value, "ndim", 1) == 0
    )


def _fit_arguments(params: dict[str, Any] | None) -> dict[str, Any]:
    """fit()'s settings: Keras hands callbacks only epochs/steps, so read the rest from fit()."""
    out: dict[str, Any] = {}
    if params:
        out["epochs"] = params.get("epochs")
        out["steps_per_epoch"] = params.get("steps")
    frame = sys._getframe(1)
    for _ in range(16):  # fit() -> CallbackList.on_train_begin -> the callback -> ... -> here
        frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            break
        if frame.f_code.co_name == "fit" and "epochs" in frame.f_locals:
            local = frame.f_locals
            for name in _FIT_ARGS:
                value = local.get(name)
                if value is not None and out.get(name) is None:
                    out[name] = value if isinstance(value, (int, float, bool, str)) else str(value)
            iterator = local.get("epoch_iterator")
            size = getattr(iterator, "_batch_size", None) if iterator is not None else None
            if out.get("batch_size") is None and isinstance(size, int):
                out["batch_size"] = size
            break
    return {k: v for k, v in out.items() if v is not None}


def optimizer_config(optimizer: Any) -> dict[str, Any]:
    """The optimizer's class and settings; a learning-rate schedule as its class and settings."""
    out: dict[str, Any] = {"class": type(optimizer).__name__}
    schedule = _schedule(optimizer)
    if schedule is not None and "tensorflow" not in sys.modules:
        config = _settings_from_attributes(optimizer)
        config["learning_rate"] = {"class": type(schedule).__name__, **_safe_config(schedule)}
    else:
        config = _safe_config(optimizer)
    for key, value in config.items():
        if isinstance(value, dict) and "class_name" in value:  # a serialized schedule
            value = {"class": value.get("class_name"), **value.get("config", {})}
        if value is not None:
            out[key] = value
    return out


def _schedule(optimizer: Any) -> Any:
    lr = getattr(optimizer, "_learning_rate", None)
    if lr is None or hasattr(lr, "assign") or isinstance(lr, (int, float)):
        return None  # a variable or a number
    return lr if callable(lr) and hasattr(lr, "get_config") else None


def _settings_from_attributes(optimizer: Any) -> dict[str, Any]:
    # Keras optimizers keep each constructor argument as an attribute of the same name.
    out: dict[str, Any] = {"name": getattr(optimizer, "name", None)}
    try:
        names = inspect.signature(type(optimizer).__init__).parameters
    except (TypeError, ValueError):
        return out
    for name in names:
        value = getattr(optimizer, name, None)
        if name not in ("self", "learning_rate", "name") and isinstance(
                value, (bool, int, float, str)):
            out[name] = value
    return out


def _safe_config(obj: Any) -> dict[str, Any]:
    try:
        config = obj.get_config()
    except Exception:
        return {}
    return config if isinstance(config, dict) else {}


def _name_of(obj: Any) -> Any:
    if isinstance(obj, (str, int, float)):
        return obj
    if isinstance(obj, dict):
        return {str(k): _name_of(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_name_of(v) for v in obj]
    return getattr(obj, "name", None) or getattr(obj, "__name__", None) or type(obj).__name__
