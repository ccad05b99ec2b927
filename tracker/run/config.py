"""Turning a run's config (dict, dataclass, argparse.Namespace) into a JSON-able nested dict (the
run side; flattening it for display is ``tracker.format.flatten``)."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from .values import check_utf8

MAX_DEPTH = 100  # levels of nesting in a config (deeper ones are a mistake, or a dict in itself)


def to_config(config: Any, what: str = "config") -> dict[str, Any]:
    """Return ``config`` as a JSON-able dict; values JSON cannot hold become their ``str()``.

    ``what`` names the argument in error messages ("config", "summary").

    Raises:
        TypeError: ``config`` is not a mapping, a dataclass or an object with ``__dict__``.
        ValueError: it contains itself, is nested more than ``MAX_DEPTH`` levels deep, or holds
            text that is not valid UTF-8.
    """
    if config is None:
        return {}
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = _fields(config)
    elif not isinstance(config, Mapping):
        if hasattr(config, "__dict__") and not isinstance(config, type):
            config = vars(config)  # argparse.Namespace, simple objects
        else:
            raise TypeError(
                f"{what} must be a dict (or dataclass / argparse.Namespace), "
                f"not {type(config).__name__}"
            )
    out = _Converter(what).mapping(config, "", 0)
    json.dumps(out, allow_nan=True)  # fail here, not in the writer
    return out


def _fields(instance: Any) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies, and recurses without a bound.
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}


class _Converter:
    """One conversion: the containers on the current path, to refuse a config inside itself."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.open: set[int] = set()

    def mapping(self, value: Mapping[Any, Any], path: str, depth: int) -> dict[str, Any]:
        with self._inside(value, path, depth):
            out = {}
            for k, v in value.items():
                key = self._text(str(k), path)
                out[key] = self.value(v, f"{path}.{key}" if path else key, depth + 1)
            return out

    def value(self, value: Any, path: str, depth: int) -> Any:
        if value is None or isinstance(value, (bool, int)):
            return value
        if isinstance(value, str):
            return self._text(value, path)
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        if isinstance(value, Mapping):
            return self.mapping(value, path, depth)
        if isinstance(value, (list, tuple, set, frozenset)):
            with self._inside(value, path, depth):
                return [self.value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
        if isinstance(value, (np.integer, np.floating, np.bool_)):
            return self.value(value.item(), path, depth)
        if isinstance(value, np.ndarray) and value.size <= 64:
            return self.value(value.tolist(), path, depth)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.mapping(_fields(value), path, depth)
        if isinstance(value, enum.Enum):
            return self.value(value.value, path, depth)
        return self._text(str(value), path)  # a Path, or anything else

    @contextmanager
    def _inside(self, container: Any, path: str, depth: int) -> Iterator[None]:
        if id(container) in self.open:
            raise ValueError(f"{self.what} contains itself at {path or 'the top'!r}")
        if depth >= MAX_DEPTH:
            raise ValueError(
                f"{self.what} is nested more than {MAX_DEPTH} levels deep (at {path[:60]!r}...)"
            )
        self.open.add(id(container))
        try:
            yield
        finally:
            self.open.discard(id(container))

    def _text(self, text: str, path: str) -> str:
        return text if text.isascii() else check_utf8(text, f"{self.what} {path or 'key'!r}")
