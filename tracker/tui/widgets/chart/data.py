"""The line chart's data model: the public ChartSeries and a growable, cached form of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .raster import reduce_columns
from .smooth import EmaState, ema


@dataclass
class ChartSeries:
    """One curve: x ascending, y values (NaN = gap), optional per-x min/max for reduced data."""

    name: str  # legend label, shown literally (never markup)
    x: np.ndarray  # float64 x positions, ascending (steps, wall time or relative time)
    y: np.ndarray  # float64 values; NaN = gap; for reduced data: the bucket means
    ymin: np.ndarray | None = None  # reduced data: per-x min (same length as x), spikes kept
    ymax: np.ndarray | None = None  # reduced data: per-x max
    color: int = 0  # palette index: the same run keeps the same colour everywhere


@dataclass
class Layer:
    """Arrays ready for the rasteriser, in display space (log10 when the axis is log)."""

    x: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    mid: np.ndarray
    bad: np.ndarray  # sorted indices of gap points


class _Buffer:
    """A numpy array with spare capacity, so appends cost O(new points) amortised."""

    def __init__(self, values: np.ndarray, dtype: type = np.float64) -> None:
        self.data: np.ndarray = np.asarray(values, dtype=dtype)
        self.n = len(self.data)

    @property
    def view(self) -> np.ndarray:
        return self.data[: self.n]

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self.data):
            grown = np.empty(max(need, 2 * len(self.data), 1024), dtype=self.data.dtype)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : need] = values
        self.n = need


def _clean(values: np.ndarray) -> np.ndarray:
    """Non-finite values as NaN (a copy only when there are any)."""
    return values if np.isfinite(values).all() else np.where(np.isfinite(values), values, np.nan)


def _log(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(values)
    out[~np.isfinite(out)] = np.nan  # <= 0 becomes a gap on a log axis
    return out


class SeriesData:
    """A series as the chart keeps it: sorted, non-finite values as NaN, caches for log/EMA."""

    def __init__(self, series: ChartSeries) -> None:
        self.name = series.name
        self.color = int(series.color)
        self._reduced = series.ymin is not None or series.ymax is not None
        x = np.asarray(series.x, dtype=np.float64).ravel()
        y = np.asarray(series.y, dtype=np.float64).ravel()
        lo = y if series.ymin is None else np.asarray(series.ymin, dtype=np.float64).ravel()
        hi = y if series.ymax is None else np.asarray(series.ymax, dtype=np.float64).ravel()
        n = min(len(x), len(y), len(lo), len(hi))
        x, y, lo, hi = x[:n], y[:n], lo[:n], hi[:n]
        keep = np.isfinite(x)
        if self._reduced:
            # Empty buckets of reduced data (all NaN) are not gaps: the line runs across them.
            keep &= ~(np.isnan(y) & np.isnan(lo) & np.isnan(hi))
        if not keep.all():
            x, y, lo, hi = x[keep], y[keep], lo[keep], hi[keep]
        if len(x) > 1 and not np.all(x[1:] >= x[:-1]):  # steps repeat or go back: sort, stably
            order = np.argsort(x, kind="stable")
            x, y, lo, hi = x[order], y[order], lo[order], hi[order]
        # The caller's arrays are kept, not copied (1M points: 8 MB and ~10 ms of page faults
        # each); a buffer is copied only when the first append outgrows it.
        finite = np.isfinite(y)
        if finite.all():
            self.inf_count, bad = 0, np.zeros(0, dtype=np.int64)
        else:
            self.inf_count = int(np.count_nonzero(np.isinf(y)))
            y = np.where(finite, y, np.nan)
            bad = np.flatnonzero(~finite)
        self._x = _Buffer(x)
        self._y = _Buffer(y)
        self._lo = _Buffer(_clean(lo)) if self._reduced else self._y
        self._hi = _Buffer(_clean(hi)) if self._reduced else self._y
        self._bad = _Buffer(bad, np.int64)
        self._log: dict[float, tuple[_Buffer, _Buffer, _Buffer, _Buffer]] = {}
        self._ema: tuple[float, EmaState, _Buffer] | None = None
        self._nonpos = (0, 0)  # (points counted, how many were <= 0)
        self._spans: dict[tuple[bool, float], tuple[tuple[int, float, float, int], Any]] = {}

    def __len__(self) -> int:
        return self._x.n

    @property
    def x(self) -> np.ndarray:
        return self._x.view

    @property
    def y(self) -> np.ndarray:
        return self._y.view

    def extent(self) -> tuple[float, float] | None:
        if self._x.n == 0:
            return None
        return float(self._x.data[0]), float(self._x.data[self._x.n - 1])

    def append(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add points after the current ones; earlier x values force a full re-sort."""
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        n = min(len(x), len(y))
        keep = np.isfinite(x[:n])
        x, y = x[:n][keep], y[:n][keep]
        if len(x) == 0:
            return
        if (self._x.n and x[0] < self._x.data[self._x.n - 1]) or np.any(np.diff(x) < 0):
            lo = np.r_[self._lo.view, y] if self._reduced else None
            hi = np.r_[self._hi.view, y] if self._reduced else None
            type(self).__init__(self, ChartSeries(self.name, np.r_[self.x, x], np.r_[self.y, y], lo, hi,
                                      self.color))
            return
        self.inf_count += int(np.isinf(y).sum())
        y = _clean(y)
        start = self._x.n
        self._x.extend(x)
        self._y.extend(y)
        if self._reduced:
            self._lo.extend(y)
            self._hi.extend(y)
        bad = np.flatnonzero(np.isnan(y))
        if len(bad):
            self._bad.extend(bad + start)
        if self._ema is not None:
            weight, state, buf = self._ema
            smooth, state = ema(y, weight, state)
            buf.extend(smooth)

    def smoothed(self, weight: float) -> np.ndarray:
        """TensorBoard's EMA of y, computed once per weight and continued on append."""
        if self._ema is None or self._ema[0] != weight:
            smooth, state = ema(self.y, weight)
            self._ema = (weight, state, _Buffer(smooth))
            for stale in [w for w in self._log if w not in (0.0, weight)]:
                del self._log[stale]  # one smoothed copy at a time: 1M points are 8 MB each
        return self._ema[2].view

    def layer(self, log: bool, smoothing: float = 0.0) -> Layer:
        """Display-space arrays for the raw curve (smoothing 0) or the smoothed one.

        Linear layers are views of the data; log layers are cached and extended, not rebuilt,
        when points were appended since the last call.
        """
        if smoothing > 0:
            s = self.smoothed(smoothing)
            mid = lo = hi = s
        else:
            mid, lo, hi = self.y, self._lo.view, self._hi.view
        if not log:
            return Layer(self.x, lo, hi, mid, self._bad.view)
        n = self._x.n
        bufs = self._log.get(smoothing)
        done = bufs[0].n if bufs is not None else 0
        if bufs is None or done > n:
            empty = np.zeros(0)
            bufs = (_Buffer(empty), _Buffer(empty), _Buffer(empty), _Buffer(empty, np.int64))
            self._log[smoothing] = bufs
            done = 0
        if done < n:
            lmid = _log(mid[done:n])
            same = lo is mid
            bufs[0].extend(lmid)
            bufs[1].extend(lmid if same else _log(lo[done:n]))
            bufs[2].extend(lmid if same else _log(hi[done:n]))
            bufs[3].extend(np.flatnonzero(np.isnan(lmid)) + done)
        return Layer(self.x, bufs[1].view, bufs[2].view, bufs[0].view, bufs[3].view)

    def spans(self, log: bool, smoothing: float, x0: float, x1: float,
              ncols: int) -> tuple[np.ndarray, np.ndarray]:
        """`reduce_columns` of a layer, remembered until the data, window or width change (so a
        crosshair move or a legend update redraws without touching the points again)."""
        key = (self._x.n, x0, x1, ncols)
        hit = self._spans.get((log, smoothing))
        if hit is not None and hit[0] == key:
            return hit[1]
        la = self.layer(log, smoothing)
        spans = reduce_columns(la.x, la.lo, la.hi, la.mid, la.bad, x0, x1, ncols)
        self._spans[(log, smoothing)] = (key, spans)
        return spans

    def hidden_on_log(self) -> int:
        """How many values a log axis drops (<= 0); counted once, then only for new points."""
        done, count = self._nonpos
        if done < self._x.n:
            count += int(np.count_nonzero(self._y.data[done : self._x.n] <= 0))
            self._nonpos = (self._x.n, count)
        return count
