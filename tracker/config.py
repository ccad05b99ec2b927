"""Turning a run's config (dict, dataclass, argparse.Namespace) into a JSON-able nested dict."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np


def to_config(config: Any) -> dict[str, Any]:
    """Return ``config`` as a JSON-able dict; values JSON cannot hold become their ``str()``.

    Raises:
        TypeError: ``config`` is not a mapping, a dataclass or an object with ``__dict__``.
    """
    if config is None:
        return {}
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    elif not isinstance(config, Mapping):
        if hasattr(config, "__dict__") and not isinstance(config, type):
            config = vars(config)  # argparse.Namespace, simple objects
        else:
            raise TypeError(
                f"config must be a dict (or dataclass / argparse.Namespace), not {type(config).__name__}"
            )
    out = {str(k): _jsonable(v) for k, v in config.items()}
    json.dumps(out, allow_nan=True)  # fail here, not in the writer
    return out


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return _jsonable(value.item())
    if isinstance(value, np.ndarray) and value.size <= 64:
        return _jsonable(value.tolist())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts and lists to 'a.b' / 'layers[0]' keys (for filters, diffs, hparams)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        _flatten_into(out, name, value)
    return out


def _flatten_into(out: dict[str, Any], name: str, value: Any) -> None:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            _flatten_into(out, f"{name}.{k}", v)
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            _flatten_into(out, f"{name}[{i}]", v)
    else:
        out[name] = value
