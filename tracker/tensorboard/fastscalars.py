"""A protobuf-free fast path for the bulk of an event file: events that hold only scalars.

Writers repeat one layout step after step (the same tags, in the same order, each followed by its
number). After an event has been parsed the slow way, its layout is learnt as a *skeleton*: the
exact bytes before each number, compiled into one regular expression. Later events whose summary
matches a skeleton byte for byte (``fullmatch``: the structure is verified, not guessed) are
decoded in C by ``re`` and ``struct``; anything else goes back to protobuf. A matched event
therefore always yields exactly what protobuf would.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .encode import varint

_DT_FLOAT, _DT_DOUBLE = 1, 2
MAX_SKELETONS = 256
MAX_FAILED_LEARNS = 1000


@dataclass
class _Skeleton:
    tags: list[str]
    pattern: re.Pattern[bytes]
    numbers: struct.Struct
    seqs: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    walls: list[bytes] = field(default_factory=list)
    rows: list[tuple[float, ...]] = field(default_factory=list)


def header(payload: bytes) -> tuple[int, int, int] | None:
    """(step, summary start, summary length) of an Event laid out as wall, step, summary."""
    n = len(payload)
    if n < 11 or payload[0] != 0x09:
        return None
    pos, step = 9, 0
    if payload[9] == 0x10:
        step, pos = _varint(payload, 10)
        if step < 0:
            return None
        if step >= 1 << 63:
            step -= 1 << 64
    if pos >= n or payload[pos] != 0x2A:
        return None
    length, pos = _varint(payload, pos + 1)
    if length < 0 or pos + length != n:
        return None
    return step, pos, length


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift, n = 0, 0, len(data)
    while pos < n and shift < 70:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    return -1, pos


class FastScalars:
    """Skeletons learnt so far and the scalars decoded through them."""

    def __init__(self) -> None:
        self._by_length: dict[int, list[_Skeleton]] = {}
        self._all: list[_Skeleton] = []
        self._failed = 0

    def take(self, payload: bytes, seq: int) -> bool:
        """Decode ``payload`` if a skeleton fits it exactly; False sends it the slow way."""
        if not self._all:
            return False
        head = header(payload)
        if head is None:
            return False
        step, start, length = head
        for skeleton in self._by_length.get(length, ()):
            match = skeleton.pattern.fullmatch(payload, start)
            if match is not None:
                skeleton.seqs.append(seq)
                skeleton.steps.append(step)
                skeleton.walls.append(payload[1:9])
                skeleton.rows.append(skeleton.numbers.unpack(b"".join(match.groups())))
                return True
        return False

    def learn(self, payload: bytes, event: Any, plugins: dict[str, str]) -> None:
        """Learn the layout of an event just parsed by protobuf, if it holds only scalars."""
        if len(self._all) >= MAX_SKELETONS or self._failed >= MAX_FAILED_LEARNS:
            return
        head = header(payload)
        if head is None or not event.HasField("summary") or not event.summary.value:
            return
        skeleton = self._skeleton(payload, head[1], event.summary.value, plugins)
        if skeleton is None or skeleton.pattern.fullmatch(payload, head[1]) is None:
            self._failed += 1
            return
        self._by_length.setdefault(head[2], []).append(skeleton)
        self._all.append(skeleton)

    def _skeleton(
        self, payload: bytes, start: int, values: Any, plugins: dict[str, str]
    ) -> _Skeleton | None:
        parts, formats, tags = [], "<", []
        pos = start
        for value in values:
            which = value.WhichOneof("value")
            if which == "simple_value":
                fmt, number = "f", value.simple_value
            elif which == "tensor" and plugins.get(value.tag) == "scalars":
                tensor = value.tensor
                if tensor.dtype == _DT_DOUBLE and len(tensor.double_val) == 1:
                    fmt, number = "d", tensor.double_val[0]
                elif tensor.dtype == _DT_FLOAT and len(tensor.float_val) == 1:
                    fmt, number = "f", tensor.float_val[0]
                else:
                    return None
            else:
                return None
            if payload[pos] != 0x0A:
                return None
            size, body = _varint(payload, pos + 1)
            end = body + size
            width = struct.calcsize("<" + fmt)
            if size < width or end > len(payload):
                return None
            if payload[end - width : end] != struct.pack("<" + fmt, number):
                return None  # the number is not the value's last bytes: not a layout we can learn
            parts.append(re.escape(payload[pos : end - width]) + b"(.{%d})" % width)
            formats += fmt
            tags.append(value.tag)
            pos = end
        if pos != len(payload):
            return None
        pattern = re.compile(b"".join(parts), re.DOTALL)
        return _Skeleton(tags, pattern, struct.Struct(formats))

    def columns(self) -> dict[str, list[tuple[np.ndarray, ...]]]:
        """Per tag, (seqs, steps, values, walls) array blocks of everything decoded."""
        out: dict[str, list[tuple[np.ndarray, ...]]] = {}
        for sk in self._all:
            if not sk.rows:
                continue
            seqs = np.asarray(sk.seqs, dtype=np.int64)
            steps = np.asarray(sk.steps, dtype=np.int64)
            walls = np.frombuffer(b"".join(sk.walls), dtype="<f8").astype(np.float64)
            rows = np.asarray(sk.rows, dtype=np.float64).reshape(len(sk.rows), len(sk.tags))
            for j, tag in enumerate(sk.tags):
                out.setdefault(tag, []).append((seqs, steps, rows[:, j].copy(), walls))
        return out


__all__ = ["FastScalars", "header", "varint"]
