"""Stored rows made into records without trusting them: a damaged field (JSON that does not parse
or nests too deep, text where a number belongs) becomes an empty or missing value and a note on
the record, so one bad row never hides the others or ends in a traceback."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

MAX_JSON_DEPTH = 200  # deeper than any real config; readers (flatten, the app) recurse over it


class Damage:
    """The problems found in one row, in the order found."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def add(self, note: str) -> None:
        self.notes.append(note)

    def text(self) -> str | None:
        return "; ".join(self.notes) if self.notes else None


def text(value: Any) -> str:
    """A TEXT column as str (SQLite lets any column hold a number or a blob)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def optional_text(value: Any) -> str | None:
    return None if value is None else text(value)


def number(value: Any, field: str, damage: Damage) -> float | None:
    """A REAL column as float; None (and a note) when it holds something else."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    damage.add(f"{field} is not a number ({_preview(value)})")
    return None


def integer(value: Any, field: str, damage: Damage) -> int | None:
    """An INTEGER column as int; None (and a note) when it holds something else."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    damage.add(f"{field} is not an integer ({_preview(value)})")
    return None


def json_object(value: Any, field: str, damage: Damage) -> dict[str, Any]:
    """A JSON object column as a dict; {} (and a note) when it is not one."""
    parsed = _json(value, field, damage)
    if parsed is None or isinstance(parsed, dict):
        return parsed or {}
    damage.add(f"{field} is not a JSON object")
    return {}


def json_strings(value: Any, field: str, damage: Damage) -> list[str]:
    """A JSON array of strings (tags) as a list; [] (and a note) when it is not one."""
    parsed = _json(value, field, damage)
    if parsed is None:
        return []
    if isinstance(parsed, list) and all(isinstance(v, str) for v in parsed):
        return parsed
    damage.add(f"{field} is not a JSON list of strings")
    return []


def metric_value(value: Any) -> float | None:
    """A scalar summary value (last, min, max) as float: NULL is NaN; None when not a number."""
    if value is None:
        return math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _json(value: Any, field: str, damage: Damage) -> Any:
    if value is None:
        return None
    if value == "{}":  # most runs' summary, many runs' tags and config: no parse needed
        return {}
    if value == "[]":
        return []
    try:
        parsed = _parse_json(value)
    except RecursionError:
        damage.add(f"{field} is nested too deeply to read")
        return None
    except (TypeError, ValueError):
        damage.add(f"{field} is not valid JSON ({_preview(value)})")
        return None
    if _may_nest_deeper(value, MAX_JSON_DEPTH) and _deeper_than(parsed, MAX_JSON_DEPTH):
        damage.add(f"{field} is nested more than {MAX_JSON_DEPTH} levels deep")
        return None
    return parsed


_DECODER = json.JSONDecoder()


def _parse_json(value: Any) -> Any:
    """``json.loads(value)``; text that is one JSON value with nothing around it (every sound
    row's) skips json.loads' layers, which cost more than decoding a small config."""
    if isinstance(value, str):
        try:
            parsed, end = _DECODER.raw_decode(value)
        except ValueError:
            pass  # json.loads raises it again, with its own message
        else:
            if end == len(value):
                return parsed
    return json.loads(value)


def _may_nest_deeper(text: Any, limit: int) -> bool:
    """Whether JSON text could nest more than ``limit`` levels: each level opens with a bracket,
    so text with fewer brackets (counted in C, strings' brackets too) cannot; walking the parsed
    value instead is most of the cost of reading 10,000 runs."""
    if isinstance(text, str):
        return text.count("{") + text.count("[") > limit
    return True


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels (iterative: no recursion to run out)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _preview(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."
