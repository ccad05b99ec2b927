"""Plain records returned by the read API and accepted by the logging API. No I/O here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


# The summary key under which tracker's own tools keep their bookkeeping about a run (the
# TensorBoard importer: source folder, bytes read per file). Readers leave it out of
# ``RunInfo.summary``, so the user's summary shows only what the run logged.
INTERNAL_SUMMARY_KEY = "_tracker"


@dataclass(frozen=True)
class RunInfo:
    """One run as stored, with the last value of each scalar key."""

    id: str
    project: str
    name: str
    group: str | None
    status: str  # running | finished | failed | killed | crashed (process gone, seen by heartbeat)
    config: dict[str, Any]
    tags: list[str]
    notes: str | None
    host: str | None
    pid: int | None
    rank: int | None
    world_size: int | None
    started: float
    ended: float | None
    heartbeat: float
    summary: dict[str, Any] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)  # scalar key -> last logged value
    last_step: int | None = None
    # What was wrong with the stored row (JSON that does not parse, text where a number belongs);
    # the fields it names are shown empty. None for a sound row.
    damaged: str | None = None
    internal: dict[str, Any] = field(default_factory=dict)  # INTERNAL_SUMMARY_KEY's bookkeeping

    @property
    def duration(self) -> float:
        """Seconds from start to end (or to the last heartbeat while running / after a crash)."""
        end = self.ended if self.ended is not None else self.heartbeat
        return max(0.0, end - self.started)


@dataclass(frozen=True)
class KeyInfo:
    """One logged key of a run and its summary (kept in step by the writer)."""

    key: str
    kind: str  # scalar | histogram | text
    count: int
    first_step: int | None
    last_step: int | None
    last_value: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True)
class Series:
    """Every point of one scalar key in a step range, in step order (ties in logging order)."""

    key: str
    steps: np.ndarray  # int64
    values: np.ndarray  # float64; NaN and +-Inf as logged
    walls: np.ndarray  # float64 unix seconds

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class ReducedSeries:
    """A series reduced to N equal step-width buckets: min/max per bucket keep every spike.

    Empty buckets hold NaN in ``mins``/``maxs`` and 0 in ``counts``. ``means`` ignore NaN values.
    """

    key: str
    start: int
    end: int
    edges: np.ndarray  # float64, N+1 bucket edges in steps
    mins: np.ndarray
    maxs: np.ndarray
    means: np.ndarray
    counts: np.ndarray  # int64 non-NaN points per bucket


@dataclass(frozen=True)
class Histogram:
    """A histogram: bucket edges (len k+1) and counts (len k) plus summary moments."""

    edges: np.ndarray
    counts: np.ndarray
    min: float
    max: float
    sum: float
    sum_squares: float
    count: float

    @classmethod
    def empty(cls) -> Histogram:
        """A histogram of no values (one empty bucket at 0)."""
        return cls(np.array([0.0, 0.0]), np.zeros(1), math.nan, math.nan, 0.0, 0.0, 0.0)

    @classmethod
    def from_values(cls, values: np.ndarray, bins: int = 64) -> Histogram:
        """Histogram of the finite values of a flat float64 array (NaN/Inf are left out)."""
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return cls.empty()
        lo, hi = float(finite.min()), float(finite.max())
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        counts, edges = np.histogram(finite, bins=bins, range=(lo, hi))
        return cls(
            edges=edges.astype(np.float64),
            counts=counts.astype(np.float64),
            min=float(finite.min()),
            max=float(finite.max()),
            sum=float(finite.sum()),
            sum_squares=float(np.dot(finite, finite)),
            count=float(finite.size),
        )


@dataclass(frozen=True)
class HistogramPoint:
    """A histogram logged at one step."""

    step: int
    wall: float
    histogram: Histogram


@dataclass(frozen=True)
class TextPoint:
    """A text logged at one step."""

    step: int
    wall: float
    text: str


@dataclass(frozen=True)
class LoggedLine:
    """One stored console line: its number in the run, stream, time, the run's step then, text."""

    seq: int
    stream: str  # stdout | stderr
    wall: float
    step: int | None  # None: printed before the run's first log()
    text: str  # as printed (escapes included): show it with tracker.console_text.display_line


@dataclass(frozen=True)
class EncodedImage:
    """One image as stored: PNG or JPEG bytes and their size in pixels."""

    format: str  # "png" | "jpeg"
    data: bytes
    width: int
    height: int
    caption: str | None = None


@dataclass(frozen=True)
class ImagePoint:
    """An image logged at one step."""

    step: int
    wall: float
    image: EncodedImage
