"""Pure-numpy braille rasteriser: series -> min/max per pixel column -> dot masks -> braille cells."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Braille dot bits by (row, col) inside a 2x4 cell (Unicode U+2800 block ordering).
_DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint8)
_EPS = 1e-6


def reduce_columns(
    x: np.ndarray,
    ylo: np.ndarray,
    yhi: np.ndarray,
    ymid: np.ndarray,
    bad: np.ndarray,
    x0: float,
    x1: float,
    ncols: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The value span each of `ncols` pixel columns over [x0, x1] must show, as (lo, hi).

    Every point inside a column contributes its min/max (so one-sample spikes survive), and the
    line between consecutive points is interpolated across empty columns and column borders.
    `bad` holds the sorted indices of gap points (NaN, Inf, or <= 0 on a log axis); the line never
    crosses one. Columns with nothing to draw hold NaN. Cost: O(points in the window).
    """
    lo = np.full(ncols, np.nan)
    hi = np.full(ncols, np.nan)
    n = len(x)
    if n == 0 or ncols <= 0 or not x1 > x0:
        return lo, hi
    edges = x0 + (x1 - x0) * (np.arange(ncols + 1, dtype=np.float64) / ncols)
    idx = np.searchsorted(x, edges, side="left")
    idx[-1] = np.searchsorted(x, x1, side="right")  # a point exactly at x1 belongs to the last column
    i0, i1 = int(idx[0]), int(idx[-1])
    counts = np.diff(idx)
    full = np.flatnonzero(counts > 0)
    if len(full):
        starts = idx[:-1][full]
        lo[full] = np.fmin.reduceat(ylo[i0:i1], starts - i0)
        hi[full] = np.fmax.reduceat(yhi[i0:i1], starts - i0)
    # Knots of the polyline in pixel-column units (column j is centred on j): each non-empty
    # column enters at its first point and leaves at its last; neighbours just outside the window
    # keep their true position so lines run off the edges.
    scale = ncols / (x1 - x0)
    pos_parts: list[npt.ArrayLike] = []
    val_parts: list[npt.ArrayLike] = []
    idx_parts: list[npt.ArrayLike] = []
    if i0 > 0:
        pos_parts.append([(x[i0 - 1] - x0) * scale - 0.5])
        val_parts.append([ymid[i0 - 1]])
        idx_parts.append([i0 - 1])
    if len(full):
        firsts = idx[:-1][full]
        lasts = idx[1:][full] - 1
        pos = np.empty(2 * len(full))
        pos[0::2] = full - 0.5 + _EPS
        pos[1::2] = full + 0.5 - _EPS
        pidx = np.empty(2 * len(full), dtype=np.int64)
        pidx[0::2] = firsts
        pidx[1::2] = lasts
        pos_parts.append(pos)
        val_parts.append(ymid[pidx])
        idx_parts.append(pidx)
    if i1 < n:
        pos_parts.append([(x[i1] - x0) * scale - 0.5])
        val_parts.append([ymid[i1]])
        idx_parts.append([i1])
    kpos = np.concatenate(pos_parts).astype(np.float64)
    if len(kpos) < 2:
        return lo, hi
    kval = np.concatenate(val_parts).astype(np.float64)
    kidx = np.concatenate(idx_parts).astype(np.int64)
    # A knot-to-knot segment is broken when a gap point lies strictly between its two points.
    if len(bad):
        broken = np.searchsorted(bad, kidx[1:], "left") > np.searchsorted(bad, kidx[:-1], "right")
    else:
        broken = np.zeros(len(kidx) - 1, dtype=bool)
    edge_pos = np.arange(ncols + 1, dtype=np.float64) - 0.5
    edge_val = np.interp(edge_pos, kpos, kval)
    seg = np.searchsorted(kpos, edge_pos, side="right") - 1
    outside = (seg < 0) | (seg >= len(kpos) - 1)
    segc = np.clip(seg, 0, len(broken) - 1)
    edge_val[outside | broken[segc]] = np.nan
    left, right = edge_val[:-1], edge_val[1:]
    lo = np.fmin(lo, np.fmin(left, right))
    hi = np.fmax(hi, np.fmax(left, right))
    return lo, hi


def dot_mask(lo: np.ndarray, hi: np.ndarray, vmin: float, vmax: float, height: int) -> np.ndarray:
    """A (height, ncols) boolean dot mask lighting rows lo..hi of each column; row 0 is the top."""
    ncols = len(lo)
    mask = np.zeros((height, ncols), dtype=bool)
    if height <= 0 or ncols == 0 or not vmax > vmin:
        return mask
    ok = ~(np.isnan(lo) | np.isnan(hi))
    if not ok.any():
        return mask
    span = vmax - vmin
    with np.errstate(invalid="ignore", over="ignore"):
        top = np.floor((vmax - hi) / span * height)
        bottom = np.floor((vmax - lo) / span * height)
    # Values exactly on vmin land on the last row, not one past it.
    top = np.clip(np.nan_to_num(top, nan=0.0), 0, height - 1).astype(np.int64)
    bottom = np.clip(np.nan_to_num(bottom, nan=0.0), 0, height - 1).astype(np.int64)
    rows = np.arange(height)[:, None]
    mask[:] = (rows >= top[None, :]) & (rows <= bottom[None, :]) & ok[None, :]
    return mask


def braille_bits(mask: np.ndarray) -> np.ndarray:
    """Pack a (4*rows, 2*cols) dot mask into (rows, cols) braille bit patterns (0 = blank)."""
    h, w = mask.shape
    rows, cols = h // 4, w // 2
    cells = mask[: rows * 4, : cols * 2].reshape(rows, 4, cols, 2)
    return np.einsum("rycx,yx->rc", cells.astype(np.uint8), _DOT_BITS).astype(np.uint8)


def braille_row(bits: np.ndarray) -> str:
    """One row of bit patterns as text: U+2800 + bits, blank cells as spaces."""
    codes = np.where(bits > 0, 0x2800 + bits.astype(np.int32), 0x20)
    return codes.astype(np.uint32).tobytes().decode("utf-32-le")


def nearest_index(x: np.ndarray, at: float) -> int | None:
    """Index of the point whose x is closest to `at` (None for an empty series)."""
    n = len(x)
    if n == 0:
        return None
    i = int(np.searchsorted(x, at))
    if i <= 0:
        return 0
    if i >= n:
        return n - 1
    return i if x[i] - at < at - x[i - 1] else i - 1
