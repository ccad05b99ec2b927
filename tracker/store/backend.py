"""The storage backend interface: the typed operations the run side and the read API ask of a store.

A backend is one module under ``tracker/store/`` (``sqlite/`` is the first; ``postgres`` the
second) with two classes and one line in ``tracker.store.open_backend``:

- a ``WriteBackend``: one write handle on a store, used by one run's writer (one thread at a time),
  by ``tracker sync`` for run after run, and, opened for a single edit, by the read API's edits
  (rename, tags, notes, times, delete);
- a ``ReadBackend``: one read handle (never writes), used by ``tracker.read.Reader``.

``tracker.store.open_backend(location, mode="read"|"write")`` picks the module from the location
(a path: SQLite; ``postgresql://``/``postgres://``: ``tracker.store.postgres``). A store file
replaced or deleted under a writer is not an error: ``WriteBackend.reopen_if_moved()`` says so and
the writer recreates its run's row there.

Nothing but plain values crosses this boundary: str, int, float, bytes, numpy arrays and the
dataclasses below or in ``tracker.records`` / ``tracker.graph`` / ``tracker.profile``. No SQL text,
no cursor, no connection, no framework value (a torch tensor or JAX array is made a float or a
numpy array on the run side before it gets here). Reads return the stored fields as stored
(``RunRow``, ``KeyRow``, ``LastValueRow``: "raw" rows whose JSON is unparsed and whose numbers may
be anything another program wrote); judging damage, crash detection and display order stay
above, in the read API.

Errors: every failure a caller must tell apart is a ``StoreError`` subclass below (the writer's
fault behaviour rests on them: README, "Reliability"). A backend turns its driver's exceptions
into these and lets no driver exception out, except from a bug of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, Union

import numpy as np

from ..errors import StoreError

if TYPE_CHECKING:
    from ..graph import Graph
    from ..profile import Profile
    from ..records import (
        EncodedImage,
        Histogram,
        HistogramPoint,
        ImagePoint,
        LoggedLine,
        ReducedSeries,
        Series,
        TextPoint,
    )

__all__ = [
    "BusyError", "ConfigSet", "ConflictError", "ConsoleLines", "DamagedBlobError", "Dropped",
    "FinalStatus", "GraphInfo", "HistogramItem", "ImageItem", "LineRecord", "KeyRow", "LastValueRow",
    "NewRun", "ProfileInfo",
    "ReadBackend", "Record", "RunFilter", "RunGoneError", "RunRow", "RunStart", "SeriesPoints",
    "StorageFault", "StoreError", "SummaryPatch", "TextItem",
    "WriteBackend", "WriteBatch", "record_kind",
]


# -- errors ----------------------------------------------------------------------------------------
class StorageFault(StoreError):
    """The store cannot take writes now (disk full, I/O error, read-only, unreachable server):
    nothing of the batch was written; the same data may be written later."""


class BusyError(StorageFault):
    """Another process holds the store's write lock past the wait asked for: try again later
    (nothing of the batch was written)."""


class DamagedBlobError(StoreError):
    """A stored blob (a graph's raw form, a profile's trace) that cannot be read back: not
    compressed data, cut short, or inflating past the limit."""


class ConflictError(StoreError):
    """A batch's ``expect`` did not match what the store holds (another copy wrote first):
    nothing of the batch was written; read the counts again and send what is still missing."""


class RunGoneError(StoreError):
    """The run's row is not in the store (deleted, e.g. by ``tracker rm``, while a process
    logged to it): nothing of the batch was written, and nothing more should be."""


# -- runs ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewRun:
    """A run to create. ``name`` None: the backend names it ``readable_name(n + 1)`` where n is
    the number of runs the project has, in the same transaction as the insert."""

    id: str
    project: str
    name: str | None
    group: str | None
    config: dict[str, Any]
    tags: list[str]
    notes: str | None
    host: str
    pid: int
    rank: int | None
    local_rank: int | None
    world_size: int | None
    started: float


@dataclass
class RunStart:
    """What a ``Run`` needs of its row (created, resumed, attached to or recreated)."""

    id: str
    project: str
    name: str
    group: str | None
    config: dict[str, Any]
    tags: list[str]
    next_step: int  # one past the highest scalar step stored (0 for a new run)
    notes: str | None = None
    started: float | None = None


@dataclass(frozen=True)
class RunFilter:
    """Which runs a read wants (every field None: all)."""

    project: str | None = None
    group: str | None = None
    tag: str | None = None
    ids: tuple[str, ...] | None = None


class RunRow(NamedTuple):
    """A run's stored fields as stored: JSON columns unparsed, numbers unchecked (the read API
    makes a ``RunInfo`` of it, naming whatever is damaged)."""

    id: Any
    project: Any
    name: Any
    group: Any
    status: Any
    config: Any
    tags: Any
    notes: Any
    host: Any
    pid: Any
    rank: Any
    world_size: Any
    started: Any
    ended: Any
    heartbeat: Any
    summary: Any


class LastValueRow(NamedTuple):
    """The last value and step of one scalar key of one run, as stored."""

    run_id: str
    key: Any
    value: Any
    step: Any


class KeyRow(NamedTuple):
    """One series of a run (scalar, histogram, text, image) and its summary, as stored."""

    key: Any
    kind: Any
    count: Any
    first_step: Any
    last_step: Any
    last_value: Any
    min: Any
    max: Any


# -- what a write batch holds ----------------------------------------------------------------------
@dataclass(frozen=True)
class SeriesPoints:
    """New points of one scalar series, in logging order (steps may repeat or go back)."""

    key: str
    steps: np.ndarray  # int64
    walls: np.ndarray  # float64 unix seconds
    values: np.ndarray  # float64; NaN and +-Inf as logged

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class HistogramItem:
    key: str
    step: int
    wall: float
    histogram: Histogram


@dataclass(frozen=True)
class TextItem:
    key: str
    step: int
    wall: float
    text: str


@dataclass(frozen=True)
class ImageItem:
    """One encoded image (PNG or JPEG bytes, as encoded on the run side; a batch of images is
    one grid image) of a key at a step."""

    key: str
    step: int
    wall: float
    image: EncodedImage


# A captured console line as the writer holds it: (stream, wall, step, text); step None before
# the run's first log().
LineRecord = tuple[str, float, int | None, str]


@dataclass(frozen=True)
class ConsoleLines:
    """Captured console lines (their final state) in the order read; the store numbers them
    (``seq``) after the run's last stored line, in the same transaction."""

    lines: Sequence[LineRecord]


@dataclass(frozen=True)
class SummaryPatch:
    """Merge these keys into the run's summary (a JSON merge patch: None removes a key)."""

    values: dict[str, Any]


@dataclass(frozen=True)
class ConfigSet:
    """Replace the run's config with this one (a snapshot: later updates send theirs)."""

    config: dict[str, Any]


# A record of a batch, written in the order given. ``Graph`` and ``Profile`` are stored whole.
Record = Union[HistogramItem, TextItem, ImageItem, ConsoleLines, SummaryPatch, ConfigSet,
              "Graph", "Profile"]


_KINDS = {"HistogramItem": "histogram", "TextItem": "text", "ImageItem": "image",
          "ConsoleLines": "console", "SummaryPatch": "summary", "ConfigSet": "config",
          "Graph": "graph", "Profile": "profile"}


def record_kind(record: Record) -> str:
    """The kind a record is counted and named as (histogram, text, image, console, graph...)."""
    return _KINDS[type(record).__name__]


@dataclass
class WriteBatch:
    """What one write transaction stores for one run: points per series and other records."""

    points: Sequence[SeriesPoints] = ()
    records: Sequence[Record] = ()
    # What a copy (tracker sync) computed the batch against: (kind, key) -> how many the store
    # holds (as ``ReadBackend.counts`` gives them). Checked in the write's transaction, which
    # raises ConflictError and writes nothing where one differs: two copies never double data.
    expect: dict[tuple[str, str], int] | None = None

    def __bool__(self) -> bool:
        return bool(self.points) or bool(self.records)


@dataclass(frozen=True)
class FinalStatus:
    """The run's end, written in the same transaction as its last data."""

    status: str  # finished | failed | killed
    ended: float
    # Only over a status of 'running' (a spill file written back late must not overwrite a
    # status set since), and leaving the heartbeat as it is.
    only_if_running: bool = False


@dataclass
class Dropped:
    """Part of a batch the store refused for what it holds (the rest was written): what it was,
    how many points or records, and why."""

    kind: str  # scalar | histogram | text | image | console | graph | profile | summary | config
    key: str | None
    count: int
    reason: str

    def __str__(self) -> str:
        if self.kind == "scalar":
            what = f"{self.count:,} points"
        else:
            what = f"{self.count:,} {self.kind} record{'s' if self.count != 1 else ''}"
        return what + (f" of {self.key!r}" if self.key is not None else "")


# -- what reads return besides tracker.records -----------------------------------------------------
@dataclass(frozen=True)
class GraphInfo:
    """A stored graph, without its nodes."""

    id: int
    run_id: str
    name: str
    framework: str
    source: str
    created: float
    node_count: int
    edge_count: int
    total_params: int
    raw_format: str | None


@dataclass(frozen=True)
class ProfileInfo:
    """A stored profile, without its rows."""

    id: int
    run_id: str
    name: str
    framework: str
    created: float
    step_from: int | None
    step_to: int | None
    duration_ns: float | None
    trace_format: str | None
    op_count: int


# -- the two handles -------------------------------------------------------------------------------
class WriteBackend(Protocol):
    """One write handle on a store. Not shared between threads at once; each method is one short
    transaction unless it says otherwise. Raises ``StoreError`` (or a subclass above)."""

    location: str  # what to show the user (a path; a URL with its password hidden)

    # runs
    def create_run(self, new: NewRun) -> RunStart:
        """Insert a new running run and return its row."""
        ...

    def load_run(self, run_id: str) -> RunStart | None:
        """An existing run's row (to attach to it), None when there is none; ``next_step`` 0."""
        ...

    def resume_run(self, run_id: str, *, config: dict[str, Any], tags: list[str],
                   notes: str | None, host: str, pid: int, now: float) -> RunStart | None:
        """Mark a run running again with this config, tags and (when not None) notes; None when
        there is no such run. ``next_step`` continues after its highest scalar step."""
        ...

    def ensure_run(self, run: RunStart, *, host: str, pid: int, now: float) -> None:
        """Insert ``run``'s row, running, into a store that lacks it (its file was replaced);
        nothing when it is there."""
        ...

    # the run's data
    def write(self, run_id: str, batch: WriteBatch, *, patient: bool = True,
              final: FinalStatus | None = None, now: float | None) -> list[Dropped]:
        """In one transaction: beat the run's heartbeat (``now``; None leaves it: a spill file
        written back), store ``batch`` and, when given, the run's ``final`` status. An empty
        batch is a heartbeat.

        A part the store refuses for what it holds (a key's points, a kind's records of a key,
        one graph...) is rolled back alone and returned; the rest is written. ``patient`` False
        waits for another process's write lock only briefly (BusyError: try at the next round).

        Raises:
            RunGoneError: the run's row is gone; nothing was written.
            BusyError: the lock was not had in time; nothing was written.
            StorageFault: the store cannot be written now; nothing was written.
        """
        ...

    def waiting_for_lock_since(self) -> float | None:
        """Since when (``time.monotonic()``) a ``write`` waits for the write lock; None when it
        is not waiting (read by another thread: back-pressure must not wait on such a writer)."""
        ...

    def in_write(self) -> bool:
        """Whether a ``write`` is under way on this thread's stack (a signal handler re-entered
        it): the caller must not start another."""
        ...

    def reopen_if_moved(self, run: RunStart | None = None, *, host: str = "", pid: int = 0,
                        now: float = 0.0) -> Literal["replaced", "deleted", "reopened"] | None:
        """When the location no longer names the store this handle writes (a file deleted or
        replaced), or none is open (an earlier reopen failed), open the one there now (creating
        it), recreate ``run``'s row in it (as ``ensure_run``) and say which; else None. A server
        backend returns None."""
        ...

    # edits (a user's; each one short transaction)
    def rename_run(self, run_id: str, name: str) -> None: ...
    def set_tags(self, run_id: str, tags: list[str]) -> None: ...
    def set_notes(self, run_id: str, notes: str | None) -> None: ...

    def set_run_times(self, run_id: str, started: float | None, ended: float | None) -> None:
        """Set start and/or end (None keeps it); the heartbeat is moved up to ``ended``."""
        ...

    def set_run_host(self, run_id: str, host: str | None) -> None:
        """Set the host a run ran on and clear its pid (imported runs)."""
        ...

    def delete_runs(self, run_ids: Iterable[str]) -> int:
        """Delete runs and everything they logged; return how many runs were deleted."""
        ...

    # the handle
    def close(self, *, healthy: bool = True) -> None:
        """Let the handle go: back to the process's pool when ``healthy``, else closed without
        waiting on anything (a broken file, the end of a run that could not write)."""
        ...

    def abandon(self) -> None:
        """In a forked child: forget the parent's handle without closing or using it."""
        ...


class ReadBackend(Protocol):
    """One read handle on a store; never writes. Not shared between threads."""

    location: str

    def close(self) -> None: ...

    # runs
    def runs(self, where: RunFilter) -> list[RunRow]:
        """Matching runs, newest first (then by id)."""
        ...

    def last_values(self, where: RunFilter) -> list[LastValueRow]:
        """The last value and step of every scalar key of the matching runs."""
        ...

    def projects(self) -> list[str]:
        """Project names, sorted."""
        ...

    def run_exists(self, run_id: str) -> bool: ...

    def run_candidates(self, ref: str) -> list[str]:
        """Ids of the runs whose id starts with ``ref`` (literally: no wildcards) or whose name
        is ``ref``."""
        ...

    # series
    def keys(self, run_id: str, kind: str | None = None) -> list[KeyRow]:
        """A run's series (of one kind, or all), sorted by key, then kind."""
        ...

    def series(self, run_id: str, key: str, start: int | None, end: int | None) -> Series:
        """Every point of a scalar key with step in [start, end], in step order (empty if none)."""
        ...

    def reduced(self, run_id: str, key: str, buckets: int, start: int | None,
                end: int | None) -> ReducedSeries:
        """A scalar key reduced to ``buckets`` min/max/mean buckets over [start, end]."""
        ...

    def points_after(self, run_id: str, key: str, count: int) -> Series:
        """Points logged after the first ``count`` ones, in logging order (live tailing)."""
        ...

    def histograms(self, run_id: str, key: str, start: int | None,
                   end: int | None) -> list[HistogramPoint]: ...
    def histograms_after(self, run_id: str, key: str, count: int) -> list[HistogramPoint]: ...
    def texts(self, run_id: str, key: str) -> list[TextPoint]: ...
    def texts_after(self, run_id: str, key: str, count: int) -> list[TextPoint]: ...

    # images and console lines
    def image_keys(self, run_id: str) -> list[str]:
        """The run's image keys, sorted."""
        ...

    def image_steps(self, run_id: str, key: str) -> list[int]:
        """The steps ``key`` has an image at, ascending, each once (none: no such key)."""
        ...

    def image_at(self, run_id: str, key: str, step: int) -> ImagePoint | None:
        """The image of ``key`` at ``step`` (the last one logged there), or None."""
        ...

    def images_after(self, run_id: str, key: str, count: int, limit: int) -> list[ImagePoint]:
        """Up to ``limit`` images logged after the first ``count`` ones, in logging order."""
        ...

    def console_lines(self, run_id: str, *, after_seq: int | None = None,
                      stream: str | None = None, grep: str | None = None,
                      since_step: int | None = None, limit: int | None = None,
                      last: bool = False) -> list[LoggedLine]:
        """Console lines in seq order: after ``after_seq``, of one ``stream``, containing
        ``grep`` (literal, case-sensitive), printed at ``since_step`` or later; at most
        ``limit``, the first ones or with ``last`` the last ones."""
        ...

    def console_seq_at_step(self, run_id: str, step: int) -> int | None:
        """The seq of the run's first line printed at ``step`` or later (None: none was)."""
        ...

    def counts(self, run_id: str) -> dict[tuple[str, str], int]:
        """How much of each a run holds, the marks a copy goes on from: (kind, key) -> points or
        records of each series; ("console", ""), ("graph", "") and ("profile", "") -> how many
        lines, graphs, profiles. Absent: none."""
        ...

    # graphs and profiles
    def graphs(self, run_id: str) -> list[GraphInfo]: ...
    def graph(self, graph_id: int) -> Graph: ...
    def profiles(self, run_id: str) -> list[ProfileInfo]: ...
    def profile(self, profile_id: int, *, with_trace: bool = True) -> Profile: ...
