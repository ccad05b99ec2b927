"""Record framing, crc32c (C and pure Python) and the hand-encoded scalar events."""

from __future__ import annotations

import numpy as np
from tensorboard.compat.proto import event_pb2
from tensorboard.util import tensor_util

from tracker.tensorboard import records
from tracker.tensorboard.encode import scalar_records, varint


def test_crc32c_fallback_matches_the_known_vector_and_google_crc32c() -> None:
    assert records.crc32c_python(b"123456789") == 0xE3069283  # the CRC-32C check value
    for data in (b"", b"a", bytes(range(256)) * 3):
        assert records.crc32c_python(data) == records.crc32c(data)


def test_frames_read_back_and_damage_is_reported(tmp_path) -> None:
    path = tmp_path / "events.out.tfevents.1.h"
    writer = records.RecordWriter(path)
    for i in range(5):
        writer.write(f"payload {i}".encode() * (i + 1))
    writer.close()
    good = [p for p, _ in records.read_records(path)]
    assert good == [f"payload {i}".encode() * (i + 1) for i in range(5)]

    data = bytearray(path.read_bytes())
    second = len(records.frame(good[0]))
    data[second + 14] ^= 0xFF  # a payload byte of record 2: bad data CRC
    path.write_bytes(bytes(data[:-3]))  # and the last record cut short
    problems: list[records.RecordProblem] = []
    got = [p for p, _ in records.read_records(path, problems=problems)]
    assert got == [good[0], good[2], good[3]]
    assert [p.reason.split(":")[0] for p in problems] == ["bad data CRC", "truncated record (file still being written?)"]


def test_varint_matches_protobuf_for_negative_and_large_steps() -> None:
    for step in (1, 127, 128, 300, -1, -(2**63), 2**63 - 1):
        assert event_pb2.Event(step=step).SerializeToString() == b"\x10" + varint(step)
    assert event_pb2.Event.FromString(b"\x10" + varint(0)).step == 0


def test_hand_encoded_events_parse_as_protobuf() -> None:
    series = [
        (np.array([0, 1, 1, -7]), np.array([1.5, 2.5, 3.5, 4.5]), np.array([10.0, 11.0, 11.0, 12.0])),
        (np.array([1]), np.array([9.0]), np.array([11.0])),
    ]
    for float64 in (True, False):
        events = [event_pb2.Event.FromString(r[12:-4])
                  for r in scalar_records(["a", "ünï/b"], series, float64=float64)]
        got = []
        for e in events:
            for v in e.summary.value:
                value = tensor_util.make_ndarray(v.tensor).item() if float64 else v.simple_value
                got.append((e.wall_time, e.step, v.tag, value))
        assert sorted(got) == sorted([(10.0, 0, "a", 1.5), (11.0, 1, "a", 2.5), (11.0, 1, "a", 3.5),
                                      (12.0, -7, "a", 4.5), (11.0, 1, "ünï/b", 9.0)])
        grouped = [e for e in events if len(e.summary.value) > 1]
        assert grouped  # points sharing (wall, step) share an Event
