"""Event payloads for export: scalars hand-encoded in bulk with numpy, the rest via TB's protos.

Scalars are the volume (millions of points), so their ``Event`` bytes are put together directly:
all scalars that share a step and a wall time go into one Event, and the per-point
``Summary.Value`` bytes are assembled for a whole batch at once with numpy. Every other summary is
rare and goes through ``tensorboard.compat.proto`` and the ``summary_v2`` helpers, which do not
import TensorFlow.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from .records import frame

_D = struct.Struct("<d")
GROUP_LIMIT = 1000  # at most this many values in one Event (a run that logs everything at step 0)
_CHUNK_POINTS = 1 << 16  # points assembled per numpy pass (bounds the index arrays' memory)
SCALARS_METADATA = b"\n\t\n\x07scalars"  # SummaryMetadata(plugin_data=PluginData("scalars"))
# Summary.Value.tensor = TensorProto(dtype=DT_DOUBLE, tensor_shape={}, double_val=[<8 bytes>])
_DOUBLE_TENSOR_HEAD = b"\x42\x0e\x08\x02\x12\x00\x32\x08"


def varint(value: int) -> bytes:
    """Protobuf varint of an int64 (negative values take ten bytes, as protobuf does)."""
    value &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def _value_parts(tag: str, float64: bool, metadata: bool) -> tuple[bytes, bytes, int]:
    """(bytes before the number, bytes after it, number width) of one scalar's Summary.Value."""
    tag_part = _field(1, tag.encode("utf-8"))
    if float64:
        tail = _field(9, SCALARS_METADATA) if metadata else b""
        inner_len = len(tag_part) + len(_DOUBLE_TENSOR_HEAD) + 8 + len(tail)
        return b"\x0a" + varint(inner_len) + tag_part + _DOUBLE_TENSOR_HEAD, tail, 8
    inner_len = len(tag_part) + 5  # simple_value: tag byte 0x15 + float32
    return b"\x0a" + varint(inner_len) + tag_part + b"\x15", b"", 4


def _event(wall: float, step: int, summary: bytes) -> bytes:
    return b"\x09" + _D.pack(wall) + b"\x10" + varint(step) + b"\x2a" + varint(len(summary)) + summary


def scalar_records(
    tags: Sequence[str],
    series: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    float64: bool = False,
    with_metadata: Sequence[bool] | None = None,
) -> list[bytes]:
    """Framed event records holding every point of ``series`` (steps, values, walls per tag).

    Points with the same (wall, step) share one Event, in wall-time order (ties keep the order
    given). By default each value is a float32 ``simple_value`` (every TensorBoard loader reads
    it). ``float64`` writes DT_DOUBLE scalar tensors instead (exact; the first point of a tag
    carries the 'scalars' plugin metadata where ``with_metadata`` says so), which TensorBoard's
    default Rust loader skips: checked against tensorboard 2.21, it takes DT_FLOAT only.
    """
    records: list[bytes] = []
    heads: list[bytes] = []
    widths: list[int] = []
    key_parts, step_parts, wall_parts, val_parts = [], [], [], []
    for k, (tag, (steps, values, walls)) in enumerate(zip(tags, series)):
        if len(steps) == 0:
            heads.append(b"")
            widths.append(0)
            continue
        steps, values, walls = _in_wall_order(steps, values, walls)
        meta = float64 and (with_metadata is None or with_metadata[k])
        if meta:  # the first point goes alone, first in the file, with the plugin metadata
            head, tail, _ = _value_parts(tag, True, True)
            value = head + _D.pack(float(values[0])) + tail
            records.append(frame(_event(float(walls[0]), int(steps[0]), value)))
            steps, values, walls = steps[1:], values[1:], walls[1:]
        head, _, size = _value_parts(tag, float64, False)
        heads.append(head)
        widths.append(len(head) + size)
        key_parts.append(np.full(len(steps), k, dtype=np.int64))
        step_parts.append(np.asarray(steps, dtype=np.int64))
        wall_parts.append(np.asarray(walls, dtype=np.float64))
        val_parts.append(np.ascontiguousarray(values, dtype="<f8" if float64 else "<f4"))
    if not key_parts:
        return records
    keys = np.concatenate(key_parts)
    if len(keys) == 0:
        return records
    steps = np.concatenate(step_parts)
    walls = np.concatenate(wall_parts)
    order = np.lexsort((steps, walls))  # wall first, then step; stable for ties
    rows = _value_rows(heads, widths, val_parts)  # key-major bytes of every point
    width_arr = np.asarray(widths, dtype=np.int64)[keys]
    src_start = np.concatenate(([0], np.cumsum(width_arr)[:-1]))
    steps_s, walls_s = steps[order], walls[order]
    new_group = np.empty(len(order), dtype=bool)
    new_group[0] = True
    new_group[1:] = (steps_s[1:] != steps_s[:-1]) | (walls_s[1:] != walls_s[:-1])
    starts = np.flatnonzero(new_group)
    run_len = np.diff(np.append(starts, len(order)))
    if run_len.max() > GROUP_LIMIT:  # split huge groups so no Event grows without bound
        rank = np.arange(len(order)) - np.repeat(starts, run_len)
        new_group |= rank % GROUP_LIMIT == 0
        starts = np.flatnonzero(new_group)
    lo, n = 0, len(order)
    while lo < n:
        # each pass covers whole groups, so no Event is split between passes
        group_lo = int(np.searchsorted(starts, lo))
        end_group = int(np.searchsorted(starts, lo + _CHUNK_POINTS))
        hi = int(starts[end_group]) if end_group < len(starts) else n
        idx = order[lo:hi]
        w = width_arr[idx]
        dst_start = np.concatenate(([0], np.cumsum(w)[:-1]))
        gather = np.arange(int(w.sum())) + np.repeat(src_start[idx] - dst_start, w)
        body = rows[gather].tobytes()
        group_pos = (starts[group_lo:end_group] - lo).tolist()
        byte_starts = dst_start[group_pos].tolist() + [len(body)]
        group_walls = walls_s[lo:hi][group_pos].tolist()
        group_steps = steps_s[lo:hi][group_pos].tolist()
        for i in range(len(group_pos)):
            summary = body[byte_starts[i] : byte_starts[i + 1]]
            records.append(frame(_event(group_walls[i], group_steps[i], summary)))
        lo = hi
    return records


def _in_wall_order(
    steps: np.ndarray, values: np.ndarray, walls: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One key's points by (wall, step), the order the whole file is written in."""
    steps, values, walls = np.asarray(steps), np.asarray(values), np.asarray(walls)
    later_wall = walls[1:] > walls[:-1]
    same_wall = walls[1:] == walls[:-1]
    if np.all(later_wall | (same_wall & (steps[1:] >= steps[:-1]))):
        return steps, values, walls  # the usual case: nothing to sort
    order = np.lexsort((steps, walls))
    return steps[order], values[order], walls[order]


def _value_rows(heads: list[bytes], widths: list[int], val_parts: list[np.ndarray]) -> np.ndarray:
    """Every point's Summary.Value bytes, key after key, as one flat uint8 array."""
    pieces = []
    parts = iter(val_parts)
    for head, width in zip(heads, widths):
        if width == 0:
            continue
        vals = next(parts)
        block = np.empty((len(vals), width), dtype=np.uint8)
        block[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
        block[:, len(head) :] = vals.view(np.uint8).reshape(len(vals), width - len(head))
        pieces.append(block.reshape(-1))
    return np.concatenate(pieces)
