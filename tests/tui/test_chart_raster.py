"""The chart's numpy core: min/max reduction, braille packing, EMA, log layers, ticks and labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.tui.widgets.chart import axes
from tracker.tui.widgets.chart.data import ChartSeries, SeriesData
from tracker.tui.widgets.chart.raster import (
    braille_bits,
    braille_row,
    dot_mask,
    nearest_index,
    reduce_columns,
)
from tracker.tui.widgets.chart.smooth import ema, ema_reference

NO_GAPS = np.zeros(0, dtype=np.int64)


def _reduce(x, y, x0, x1, ncols, bad=NO_GAPS):
    return reduce_columns(x, y, y, y, bad, x0, x1, ncols)


def test_a_one_sample_spike_in_a_million_points_survives_the_reduction() -> None:
    n = 1_000_000
    x = np.arange(n, dtype=np.float64)
    y = np.random.default_rng(0).normal(0.0, 1.0, n)
    y[654_321] = 1e3
    y[123_456] = -1e3
    lo, hi = _reduce(x, y, 0.0, n - 1.0, 200)
    assert np.nanmax(hi) == 1e3 and np.nanmin(lo) == -1e3
    # The spike sits in the column that holds its x, not smeared across its neighbours' maxima.
    assert int(np.nanargmax(hi)) == int(654_321 / (n - 1) * 200)


def test_reduction_keeps_every_points_extremes_per_column() -> None:
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(0, 100, 5_000))
    y = rng.normal(size=5_000)
    lo, hi = _reduce(x, y, 0.0, 100.0, 50)
    col = np.minimum((x / 100.0 * 50).astype(int), 49)
    for c in range(50):
        inside = y[col == c]
        assert lo[c] <= inside.min() and hi[c] >= inside.max()


def test_sparse_points_are_joined_by_lines_across_empty_columns() -> None:
    x = np.array([0.0, 10.0])
    y = np.array([0.0, 10.0])
    lo, hi = _reduce(x, y, 0.0, 10.0, 10)
    assert not np.isnan(lo).any()  # every column between the two points is drawn
    assert np.all(np.diff(lo) > 0) and lo[0] == 0.0 and hi[-1] == 10.0


def test_nan_is_a_gap_the_line_never_crosses() -> None:
    x = np.arange(10, dtype=np.float64)
    y = x.copy()
    y[5] = np.nan
    lo, _ = _reduce(x, y, 0.0, 9.0, 20, bad=np.array([5]))
    gap = np.isnan(lo)
    assert gap[9:13].all() and not gap[:8].any() and not gap[14:].any()


def test_points_outside_the_window_still_draw_lines_into_it() -> None:
    x = np.array([0.0, 100.0])
    y = np.array([0.0, 100.0])
    lo, hi = _reduce(x, y, 40.0, 60.0, 20)
    assert not np.isnan(lo).any()
    assert lo[0] == pytest.approx(40.0) and hi[-1] == pytest.approx(60.0)


def test_a_zoomed_window_reduces_only_the_points_inside() -> None:
    x = np.arange(1000, dtype=np.float64)
    y = np.where(x < 500, 0.0, 1.0)
    lo, hi = _reduce(x, y, 100.0, 200.0, 40)
    assert np.nanmax(hi) == 0.0


def test_dot_mask_and_braille_packing() -> None:
    lo = np.array([0.0, 1.0])
    hi = np.array([0.0, 1.0])
    mask = dot_mask(lo, hi, 0.0, 1.0, 4)
    assert mask[3, 0] and mask[0, 1] and mask.sum() == 2  # min at the bottom row, max at the top
    bits = braille_bits(mask)
    assert bits.shape == (1, 1) and bits[0, 0] == 0x40 | 0x08
    assert braille_row(bits[0]) == chr(0x2800 + 0x48)
    assert braille_row(np.zeros(3, dtype=np.uint8)) == "   "


def test_nearest_index() -> None:
    x = np.array([0.0, 10.0, 20.0])
    assert [nearest_index(x, v) for v in (-5, 4, 6, 19, 99)] == [0, 0, 1, 2, 2]
    assert nearest_index(np.zeros(0), 1.0) is None


@pytest.mark.parametrize("weight", [0.0, 0.6, 0.9, 0.99, 0.999])
def test_ema_matches_tensorboards_debiased_formula(weight: float) -> None:
    y = np.random.default_rng(2).normal(size=3_000).cumsum()
    y[[10, 700]] = np.nan
    y[20] = np.inf
    got, _ = ema(y, weight)
    want = np.array(ema_reference(y, weight))
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert got[20] == np.inf  # non-finite values pass through, as in TensorBoard
    np.testing.assert_allclose(got[np.isfinite(got)], want[np.isfinite(want)], rtol=1e-9,
                               atol=1e-9)


def test_ema_first_value_is_unbiased_and_constant_series_stay_put() -> None:
    got, _ = ema(np.array([5.0, 6.0]), 0.9)
    assert got[0] == pytest.approx(5.0)  # the debias term removes the pull towards 0
    const, _ = ema(np.full(10, 3.25), 0.99)
    assert np.all(const == 3.25)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200), st.integers(0, 200),
       st.sampled_from([0.3, 0.9, 0.99]))
def test_ema_continued_on_append_equals_one_pass(values: list[float], cut: int,
                                                 weight: float) -> None:
    y = np.array(values)
    cut = min(cut, len(y))
    whole, _ = ema(y, weight)
    first, state = ema(y[:cut], weight)
    rest, _ = ema(y[cut:], weight, state)
    np.testing.assert_allclose(np.r_[first, rest], whole, rtol=1e-9, atol=1e-6)


def test_series_data_sorts_cleans_and_appends() -> None:
    s = SeriesData(ChartSeries("a", np.array([2.0, 0.0, 1.0]), np.array([3.0, np.inf, 1.0])))
    assert s.x.tolist() == [0.0, 1.0, 2.0] and np.isnan(s.y[0]) and s.inf_count == 1
    s.append(np.array([3.0, 4.0]), np.array([4.0, np.nan]))
    layer = s.layer(log=False)
    assert layer.x.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and layer.bad.tolist() == [0, 4]
    s.append(np.array([0.5]), np.array([9.0]))  # going back in x re-sorts
    assert s.x.tolist() == [0.0, 0.5, 1.0, 2.0, 3.0, 4.0]


def test_log_layer_drops_non_positive_values_and_extends_on_append() -> None:
    s = SeriesData(ChartSeries("a", np.arange(4.0), np.array([100.0, -1.0, 0.0, 10.0])))
    layer = s.layer(log=True)
    assert layer.mid[0] == 2.0 and layer.mid[3] == 1.0 and layer.bad.tolist() == [1, 2]
    assert s.hidden_on_log() == 2
    s.append(np.array([4.0]), np.array([1000.0]))
    layer = s.layer(log=True)
    assert layer.mid.tolist()[-1] == 3.0 and len(layer.mid) == 5


def test_smoothed_series_continue_on_append() -> None:
    y = np.random.default_rng(3).normal(size=500)
    s = SeriesData(ChartSeries("a", np.arange(300.0), y[:300]))
    s.smoothed(0.9)
    s.append(np.arange(300.0, 500.0), y[300:])
    np.testing.assert_allclose(s.smoothed(0.9), ema_reference(y, 0.9), rtol=1e-9)


def test_reduced_series_keep_min_max_and_skip_empty_buckets() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0])
    mean = np.array([1.0, np.nan, 2.0, 3.0])
    s = SeriesData(ChartSeries("a", x, mean, ymin=np.array([0.5, np.nan, 1.0, 2.0]),
                               ymax=np.array([9.0, np.nan, 2.5, 3.5])))
    layer = s.layer(log=False)
    assert layer.x.tolist() == [0.0, 2.0, 3.0] and len(layer.bad) == 0
    lo, hi = reduce_columns(layer.x, layer.lo, layer.hi, layer.mid, layer.bad, 0.0, 3.0, 6)
    assert np.nanmax(hi) == 9.0 and np.nanmin(lo) == 0.5


def test_linear_ticks_are_round_and_inside() -> None:
    ticks, step = axes.linear_ticks(0.13, 0.97, 5)
    assert step == 0.2 and ticks.tolist() == pytest.approx([0.2, 0.4, 0.6, 0.8])
    ticks, step = axes.linear_ticks(0, 1_000_000, 4)
    assert step == 500_000 and len(ticks) == 3


def test_log_ticks_are_decades_or_finer() -> None:
    assert 10 ** axes.log_ticks(-4, 2, 4) == pytest.approx([1e-4, 1e-2, 1, 100])
    assert 10 ** axes.log_ticks(-0.7, 0.75, 12) == pytest.approx([0.2, 0.5, 1, 2, 5])
    assert (10 ** axes.log_ticks(0.1, 0.5, 5)).tolist() == pytest.approx([1.5, 2, 2.5, 3])


@pytest.mark.parametrize(("value", "step", "text"), [
    (1500, 500, "1.5k"), (1500, 0, "1500"), (10_000, 5_000, "10k"), (2e6, 5e5, "2M"), (2.5e6, 5e5, "2.5M"), (0.25, 0.05, "0.25"),
    (0.5, 0.1, "0.5"), (-3, 1, "-3"), (0.0, 0.2, "0"), (1.2e-4, 0, "1.2e-4"),
    (math.nan, 0, "nan"), (-math.inf, 0, "-inf"),
])
def test_format_number(value: float, step: float, text: str) -> None:
    assert axes.format_number(value, step) == text


def test_time_labels() -> None:
    assert [axes.format_duration(s) for s in (45, 150, 3725, 90061)] == [
        "45s", "2m30s", "1h02m", "1d1h"]
    ticks, step = axes.time_ticks(0, 3600, 6)
    assert step == 600 and ticks[0] == 0 and ticks[-1] == 3600
    assert len(axes.format_wall(1.7e9, 100)) == 8 and len(axes.format_wall(1.7e9, 5 * 86400)) == 11


def test_column_spans_are_reused_until_data_window_or_width_change() -> None:
    s = SeriesData(ChartSeries("a", np.arange(100.0), np.arange(100.0)))
    first = s.spans(False, 0.0, 0.0, 99.0, 40)
    assert s.spans(False, 0.0, 0.0, 99.0, 40) is first  # a crosshair move redraws from this
    assert s.spans(False, 0.0, 0.0, 50.0, 40) is not first
    again = s.spans(False, 0.0, 0.0, 99.0, 40)
    s.append(np.array([100.0]), np.array([500.0]))
    grown = s.spans(False, 0.0, 0.0, 100.0, 40)
    assert grown is not again and np.nanmax(grown[1]) == 500.0
