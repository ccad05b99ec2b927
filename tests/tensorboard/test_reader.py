"""The fast reader gives exactly what protobuf decoding gives, whatever mix of layouts a file has."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2

from tracker.tensorboard.reader import read_run
from tracker.tensorboard.records import RecordWriter

SCALARS = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))


def _value(rng: random.Random, tag: str, seen: set[str]) -> tuple[summary_pb2.Summary.Value, float]:
    number = rng.choice([0.0, -0.0, 1.5, math.nan, math.inf, rng.uniform(-1e6, 1e6)])
    if tag.startswith("d"):  # v2 style: double tensors, metadata on a tag's first value only
        value = summary_pb2.Summary.Value(
            tag=tag, tensor=tensor_pb2.TensorProto(dtype=2, double_val=[number]))
        if tag not in seen:
            value.metadata.CopyFrom(SCALARS)
        return value, number
    if tag.startswith("f"):  # tf.summary style: float tensors with an explicit empty shape
        value = summary_pb2.Summary.Value(
            tag=tag, metadata=SCALARS, tensor=tensor_pb2.TensorProto(dtype=1, float_val=[number]))
        value.tensor.tensor_shape.SetInParent()
        return value, float(np.float32(number))
    return summary_pb2.Summary.Value(tag=tag, simple_value=number), float(np.float32(number))


def test_mixed_layouts_decode_like_protobuf(tmp_path: Path) -> None:
    rng = random.Random(7)
    tags = ["loss", "acc", "d/lr", "f/grad", "ünï", "x" * 200]
    expected: dict[str, list[tuple[int, float, float]]] = {}
    seen: set[str] = set()
    files = []
    for f in range(2):  # two files: seq order spans them
        path = tmp_path / f"events.out.tfevents.{f}.h"
        writer = RecordWriter(path)
        for i in range(400):
            chosen = rng.sample(tags, rng.randint(1, 3)) if i % 50 else tags  # layouts change
            step = rng.choice([i, 0, -i, 2**40 + i])
            wall = 1e9 + i + f * 1000
            values = []
            for tag in chosen:
                value, number = _value(rng, tag, seen)
                seen.add(tag)
                values.append(value)
                expected.setdefault(tag, []).append((step, number, wall))
            event = event_pb2.Event(wall_time=wall, step=step, summary=summary_pb2.Summary(value=values))
            writer.write(event.SerializeToString())
            if i % 97 == 0:  # other events in between
                writer.write(event_pb2.Event(wall_time=wall, file_version="brain.Event:2").SerializeToString())
        writer.close()
        files.append(path)

    data = read_run(files, {}, [])

    assert sorted(data.scalars) == sorted(tags)
    for tag, points in expected.items():
        steps, values, walls = data.scalars[tag]
        assert steps.tolist() == [p[0] for p in points], tag
        assert walls.tolist() == [p[2] for p in points], tag
        want = np.array([p[1] for p in points])
        assert np.array_equal(values, want, equal_nan=True), tag
        assert [math.copysign(1, v) for v in values] == [math.copysign(1, v) for v in want]
