"""The scalar buffer takes only device values that are ready, unless told to wait."""

from __future__ import annotations

import numpy as np

from tracker.run.buffer import ScalarBatch, ScalarBuffer, series_points
from tracker.run.values import Deferred


class FakeDeviceScalar:
    """A JAX-like handle whose readiness the test decides."""

    def __init__(self, value: float) -> None:
        self.value, self.ready = value, False

    def is_ready(self) -> bool:
        return self.ready

    def is_deleted(self) -> bool:
        return False

    def devices(self) -> set:
        return set()  # an unknown platform: the reader copies as for an accelerator

    def copy_to_host_async(self) -> None:
        pass

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.asarray(self.value, dtype=dtype)


def _append(buf: ScalarBuffer, step: int, values: list) -> None:
    """What Run.log() does: build the entry (device values as NaN slots), then publish it."""
    device, floats = [], []
    for i, value in enumerate(values):
        if isinstance(value, FakeDeviceScalar):
            item = Deferred(value, "jax")
            buf.defer(item)
            device.append((i, item))
            value = float("nan")
        floats.append(value)
    keys = tuple(f"k{i}" for i in range(len(values)))
    buf.publish((step, 0.0, keys, tuple(floats), tuple(device) or None), len(values))


def test_take_stops_before_the_first_value_still_being_computed() -> None:
    buf = ScalarBuffer()
    done, busy = FakeDeviceScalar(1.0), FakeDeviceScalar(2.0)
    done.ready = True
    _append(buf, 0, [done, 10.0])
    _append(buf, 1, [11.0, busy])  # this entry waits for its device value
    _append(buf, 2, [12.0, 13.0])
    first = buf.take(wait=False)
    assert first is not None
    assert first.steps.tolist() == [0, 0] and first.values.tolist() == [1.0, 10.0]
    assert buf.take(wait=False) is None  # still not ready: nothing taken, nothing lost
    busy.ready = True
    rest = buf.take(wait=False)
    assert rest is not None
    assert rest.steps.tolist() == [1, 1, 2, 2]
    assert rest.values.tolist() == [11.0, 2.0, 12.0, 13.0]
    assert buf.pending() == 0 and not buf.deferred


def test_take_with_wait_reads_everything_and_early_reads_fill_the_slots() -> None:
    buf = ScalarBuffer()
    a, b = FakeDeviceScalar(5.0), FakeDeviceScalar(6.0)
    a.ready = True
    _append(buf, 0, [a])
    _append(buf, 1, [b])
    buf.read_deferred()  # the early read: the ready prefix only, in place
    assert len(buf.deferred) == 1
    batch = buf.take(wait=True)
    assert batch is not None and batch.values.tolist() == [5.0, 6.0]


def test_a_packed_array_fills_its_entrys_points_once_computed() -> None:
    buf = ScalarBuffer()
    packed = FakeDeviceScalar([1.0, 2.0, 3.0])  # an accelerator's array: the writer reads it
    _append(buf, 0, [10.0])
    item = Deferred(packed, "jaxvec")
    buf.defer(item)
    buf.publish((1, 0.0, ("p0", "p1", "p2"), (float("nan"),) * 3, ((0, item),)))
    buf.appended += 3
    _append(buf, 2, [11.0])
    assert not buf.unread  # not on CPU: left to the writer

    first = buf.take(wait=False)
    assert first is not None and first.values.tolist() == [10.0]
    packed.ready = True
    rest = buf.take(wait=False)
    assert rest is not None
    assert rest.values.tolist() == [1.0, 2.0, 3.0, 11.0]
    assert rest.steps.tolist() == [1, 1, 1, 2]


def test_entries_of_no_point_and_of_several_points_keep_each_point_at_its_step() -> None:
    buf = ScalarBuffer()
    _append(buf, 0, [])  # log({}) at step 0
    _append(buf, 1, [1.0, 2.0])
    _append(buf, 2, [3.0])
    taken = buf.take()
    assert taken is not None
    assert taken.steps.tolist() == [1, 1, 2] and taken.values.tolist() == [1.0, 2.0, 3.0]


def _per_key(batch: ScalarBatch, names: list[str]) -> dict[str, tuple[list, list, list]]:
    return {p.key: (p.steps.tolist(), p.walls.tolist(), p.values.tolist())
            for p in series_points(batch, names)}


def test_points_per_key_keep_logging_order_for_any_mix_of_keys() -> None:
    """The same keys every step (sliced without a sort) and any other mix (sorted) give each key
    its points in the order logged."""
    names = ["b", "a", "c"]
    rng = np.random.default_rng(3)
    mixes = [
        np.tile([1, 0, 2], 50),  # every step logs a, b, c in one order
        np.tile([2, 0], 40),  # two of the keys
        np.array([0, 1, 2, 0, 1, 2, 0, 1]),  # a last step that logged fewer keys
        np.array([0, 1, 0, 1, 1, 0]),  # the order changes
        np.array([0, 0, 1, 1]),  # one key twice a step
        rng.integers(0, 3, 500),
        np.array([2]),
    ]
    for key_ids in mixes:
        n = len(key_ids)
        batch = ScalarBatch(key_ids.astype(np.int32), np.arange(n, dtype=np.int64) * 7,
                            np.arange(n) * 0.5, rng.normal(size=n))
        expect = {}
        for kid in sorted(set(key_ids.tolist())):
            at = np.flatnonzero(key_ids == kid)
            expect[names[kid]] = (batch.steps[at].tolist(), batch.walls[at].tolist(),
                                  batch.values[at].tolist())
        assert _per_key(batch, names) == expect
        assert [p.key for p in series_points(batch, names)] == list(expect)
