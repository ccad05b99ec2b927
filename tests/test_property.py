"""Property tests: whatever is logged reads back identically, or is refused with a clear error."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tracker

keys = st.text(min_size=0, max_size=300)
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.text(max_size=5),
    st.none(),
    st.lists(st.floats(), max_size=2),
)
steps = st.one_of(st.none(), st.integers(min_value=-(2**64), max_value=2**64))
calls = st.lists(st.tuples(st.dictionaries(keys, values, max_size=4), steps), max_size=25)


def expected_float(value: object) -> float | None:
    """The float a value must read back as, or None when it must be refused."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int):
        return float(value) if abs(value) < 2**1023 else None
    if isinstance(value, float):
        return value
    return None


def key_ok(key: str) -> bool:
    return bool(key.strip()) and len(key) <= 256 and not any(ord(c) < 32 or ord(c) == 127 for c in key)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=calls)
@example(calls=[({}, -2), ({"0": 0.0}, None)])  # an earlier explicit step: the default stays at 0
def test_logged_values_read_back_identically_or_are_refused(tmp_path_factory, calls):
    path = tmp_path_factory.mktemp("prop") / "p.db"
    stored: dict[str, list[tuple[int, float]]] = {}
    next_step = 0
    with tracker.init("prop", db=path) as run:
        for metrics, step in calls:
            good_step = step is None or -(2**63) <= step < 2**63
            converted = {k: expected_float(v) for k, v in metrics.items()}
            good = good_step and all(key_ok(k) for k in metrics) and None not in converted.values()
            try:
                run.log(metrics, step=step)
            except (TypeError, ValueError) as exc:
                assert not good, exc
                assert str(exc)  # a message, and it names the culprit
                continue
            assert good, (metrics, step)
            actual_step = next_step if step is None else step
            next_step = max(next_step, actual_step + 1)  # one past the highest step so far
            for k, v in converted.items():
                stored.setdefault(k, []).append((actual_step, v))
    with tracker.open_store(path) as store:
        for key, points in stored.items():
            series = store.series(run.id, key)
            order = sorted(range(len(points)), key=lambda i: points[i][0])  # stable: ties in order
            want_steps = [points[i][0] for i in order]
            want_values = np.array([points[i][1] for i in order], dtype=float)
            assert series.steps.tolist() == want_steps
            np.testing.assert_array_equal(series.values, want_values)
        logged = {k.key for k in store.keys(run.id)}
    assert logged == set(stored)


@settings(max_examples=30, deadline=None)
@given(texts=st.lists(st.text(max_size=200), min_size=1, max_size=5))
def test_text_reads_back_exactly(tmp_path_factory, texts):
    path = tmp_path_factory.mktemp("text") / "t.db"
    with tracker.init("prop", db=path) as run:
        for i, text in enumerate(texts):
            run.log_text("t", text, step=i)
    with tracker.open_store(path) as store:
        assert [t.text for t in store.texts(run.id, "t")] == texts


def test_float_edge_values_round_trip(db_path):
    specials = [0.0, -0.0, 5e-324, 1.7976931348623157e308, -1.7976931348623157e308,
                0.1 + 0.2, math.pi, math.inf, -math.inf]
    with tracker.init("p", db=db_path) as run:
        for v in specials:
            run.log({"v": v})
    with tracker.open_store(db_path) as store:
        got = store.series(run.id, "v").values.tolist()
    assert got == specials and math.copysign(1, got[1]) == -1.0
