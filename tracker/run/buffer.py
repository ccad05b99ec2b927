"""The scalar buffer between ``Run.log()`` and the writer: whole entries, each published by one append.

A ``log()`` call builds its entry first (step, wall time, keys, values and any device handles) and
then publishes it with a single ``list.append``: the one step that makes it visible to the writer.
An exception that lands anywhere in ``log()`` (Ctrl-C in a notebook, a signal handler's) therefore
leaves the whole entry or none of it, and there is no lock to leave held: several threads append
at once, and a signal handler that logs while the main thread was inside ``log()`` just appends too.

``take()`` (writer side) copies a prefix of the list and then deletes exactly that prefix; appends
only ever go to the end. THE GIL ASSUMPTION (the one place it is made): each of those list
operations is atomic, and so are the plain attribute stores that go with an entry (``has_series``,
``appended``) as seen from the writer thread, so neither side needs a lock against the other.
Free-threaded CPython (3.13t/3.14t with the GIL off) keeps the first (lists have their own lock)
but gives no order between the attribute stores and the append as another thread sees them; until
that is measured and made safe, ``check_gil()`` refuses such an interpreter at ``tracker.init()``
with one line. The
taken entries become packed numpy columns at once (28 bytes a point); waiting in the list, an
entry costs about 220 bytes plus 16 a point (and keeps its float objects alive), and the writer
takes them at least once a second or whenever ``soft_limit`` points wait.

Device values (a CUDA tensor, a JAX array) go in as NaN with their ``Deferred`` handle in the
entry, and are read by the writer in one batch (packed JAX metrics: one 1-d array for all the
points of an entry). JAX arrays on CPU are also queued in ``unread`` for the logging thread to
read itself, once computed (``read_here``): measured on a 2-core machine with a 0.2 ms jitted
step, the writer thread reading them slowed it by 7-12% (it preempts XLA's threads), the loop's
own thread by 2-8%.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from ..errors import TrackerError
from ..store.backend import SeriesPoints
from .values import JAX_KINDS, Deferred, is_jax_on_cpu, is_ready, read_if_ready, resolve_deferred

# Device handles waiting to be read that make log() ask the writer to read them before its next
# flush (once a second). Measured with JAX on CPU: 2,000 arrays kept alive slowed a 0.2 ms step by
# 7%, 5,000 by 17% (dispatch cost grows with live arrays); 512 cost nothing measurable.
READ_EARLY_AT = 128

# Points waiting in the buffer that wake the writer (soft) and that make log() wait for it to take
# them (hard: bounded memory, and a bounded loss window when logging outruns the writer). The
# writer lowers both to what it writes in about 0.1 s and 0.3 s once it has measured its speed.
SOFT_LIMIT = 100_000
HARD_LIMIT = 300_000


@dataclass
class ScalarBatch:
    """Taken points as numpy arrays, one element per point."""

    key_ids: np.ndarray  # int32
    steps: np.ndarray  # int64
    walls: np.ndarray  # float64
    values: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, part: slice) -> ScalarBatch:
        return ScalarBatch(self.key_ids[part], self.steps[part], self.walls[part], self.values[part])


# An entry: (step, wall, keys, values, device) where keys is a tuple of str, values a tuple of
# floats (NaN where a device value goes) and device None or a tuple of (index, Deferred). A
# log_series() entry holds numpy arrays of steps, walls and values under a 1-tuple of keys.
Entry = tuple[Any, Any, tuple[str, ...], Any, Any]
_STEP, _WALL, _KEYS, _VALUES, _DEVICE = (itemgetter(i) for i in range(5))


def check_gil() -> None:
    """Refuse an interpreter running without the GIL (see the module's docstring).

    Raises:
        TrackerError: free-threaded CPython with the GIL disabled.
    """
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    if is_enabled is not None and not is_enabled():
        raise TrackerError("tracker does not support free-threaded Python with the GIL disabled "
                           "yet; run with PYTHON_GIL=1 (or -X gil=1) to log from this interpreter")


class ScalarBuffer:
    """Logged scalars waiting for the writer: appended by callers, taken by the writer."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.key_names: list[str] = []  # key id -> key (writer side)
        self._key_ids: dict[str, int] = {}
        self._ids_of: dict[tuple[str, ...], np.ndarray] = {}  # an entry's keys -> their ids
        self.deferred: deque[Deferred] = deque()  # device values not read yet, oldest first
        self.has_device = False  # an entry with device values was ever published
        self.has_series = False  # a log_series() entry was ever published
        # JAX-on-CPU handles the logging thread reads itself (read_here), oldest first
        self.unread: deque[Deferred] = deque()
        self.read_here: bool | None = None  # decided by the first JAX handle's platform
        # log() asks the writer to read device handles early once this many wait (see read_deferred)
        self.read_deferred_at = READ_EARLY_AT
        self.soft_limit = SOFT_LIMIT
        self.hard_limit = HARD_LIMIT
        # Points published and taken so far. ``appended`` is a statistic for the limits: threads
        # logging at once may lose an increment now and then, which only delays a wake-up.
        self.appended = 0
        self.taken = 0

    def publish(self, entry: Entry, points: int | None = None) -> None:
        """Make a built entry visible to the writer: THE publish rule, for every logging path.

        One ``list.append`` is the step that makes it visible (whole or not at all, whatever
        exception lands around it); the count follows, as a statistic for the limits. A
        ``log_series()`` entry (numpy steps) marks the buffer first: ``take()`` must know its
        shape before it can see it. Device values of the entry were ``defer()``-ed before.
        """
        if type(entry[0]) is not int:
            self.has_series = True
        self.entries.append(entry)
        self.appended += len(entry[3]) if points is None else points

    def defer(self, item: Deferred) -> None:
        """Queue a device value for reading (caller side, before its entry is published)."""
        self.has_device = True
        self.deferred.append(item)
        if item.kind in JAX_KINDS:
            if self.read_here is None:
                self.read_here = is_jax_on_cpu(item.handle)
            if self.read_here:
                self.unread.append(item)

    def read_here_now(self, older: int) -> bool:
        """Caller side: read up to ``older`` queued JAX-on-CPU values the device has computed,
        oldest first, stopping at the first one still being computed (never waits). Returns
        whether the writer should read the rest instead (too many wait: the device is behind).

        ``older`` leaves out what the current ``log()`` call queued: just dispatched, it is
        almost never computed yet, and asking costs a microsecond. Two threads reading at once
        may skip an item here; the writer then reads it (its entry holds every one).
        """
        unread = self.unread
        try:
            while older > 0 and read_if_ready(unread[0]):
                unread.popleft()
                older -= 1
        except IndexError:  # another logging thread emptied it meanwhile
            pass
        return len(unread) >= READ_EARLY_AT

    def pending(self) -> int:
        """Points published but not taken yet."""
        return self.appended - self.taken

    # -- writer side ------------------------------------------------------------------------------
    def take(self, wait: bool = True) -> ScalarBatch | None:
        """Remove published entries and return their points (None when there are none).

        With ``wait`` every entry is taken, reading device values even if that means waiting
        for the device; without it only the entries before the first value still being computed
        (the rest stay for the next take).
        """
        entries = self.entries
        batch = entries[:]
        if not batch:
            return None
        if self.has_device:
            batch = batch[: self._read_devices(batch, wait)]
            if not batch:
                return None
        del entries[: len(batch)]  # exactly what was copied: later appends stay
        scalars = self._columns(batch)
        if scalars is not None:  # (None: only empty series were logged)
            self.taken += len(scalars)
        return scalars

    def read_deferred(self) -> None:
        """Read the device values the device has computed, oldest first, in one batch, ahead of
        the flush that takes them (a read that waits would hold this thread: measured with JAX
        on CPU, that slowed the training loop as much as a sync per step)."""
        deferred = self.deferred
        ready = []
        for item in list(deferred):
            if not is_ready(item):
                break
            ready.append(item)
        if ready:
            resolve_deferred(ready)  # each keeps its value; the handles go (they have a cost)
        self._forget_read()
        # Not ready yet (a device running behind): ask again only after as many more.
        self.read_deferred_at = len(deferred) + READ_EARLY_AT

    def _read_devices(self, batch: list[Entry], wait: bool) -> int:
        """Read the device values of ``batch``; return how many entries can be taken (all with
        ``wait``, else those before the first value still being computed)."""
        end = len(batch)
        unread: list[Deferred] = []
        for i, entry in enumerate(batch):
            device = entry[4]
            if device is None:
                continue
            if not wait and not all(is_ready(item) for _, item in device):
                end = i
                break
            unread.extend(item for _, item in device if item.handle is not None)
        if unread:
            resolve_deferred(unread)
        self._forget_read()
        return end

    def _forget_read(self) -> None:
        deferred = self.deferred
        while deferred and deferred[0].handle is None:
            deferred.popleft()

    def _columns(self, batch: list[Entry]) -> ScalarBatch | None:
        if not self.has_series:
            return self._scalar_columns(batch)
        parts: list[ScalarBatch] = []
        run: list[Entry] = []  # log() entries are packed in runs, series entries as they are
        for entry in batch:
            if type(entry[0]) is int:
                run.append(entry)
                continue
            if run:
                parts.append(self._scalar_columns(run))
                run = []
            steps, walls, keys, values, _ = entry
            parts.append(ScalarBatch(np.full(len(steps), self._key_id(keys[0]), np.int32),
                                     steps, walls, values))
        if run:
            parts.append(self._scalar_columns(run))
        return concat(parts)

    def _scalar_columns(self, batch: list[Entry]) -> ScalarBatch:
        # Column by column straight into numpy (twice as fast as transposing with zip(*batch)).
        k = len(batch)
        keys = list(map(_KEYS, batch))
        counts = np.fromiter(map(len, keys), np.int64, k)
        total = int(counts.sum())
        values = np.fromiter(chain.from_iterable(map(_VALUES, batch)), np.float64, total)
        if self.has_device:
            self._fill_device_values(values, counts, list(map(_DEVICE, batch)))
        steps = np.fromiter(map(_STEP, batch), np.int64, k)
        walls = np.fromiter(map(_WALL, batch), np.float64, k)
        if total != k or not counts.all():  # (else one point an entry: one element a point)
            steps, walls = np.repeat(steps, counts), np.repeat(walls, counts)
        return ScalarBatch(key_ids=self._key_ids_of(keys), steps=steps, walls=walls, values=values)

    @staticmethod
    def _fill_device_values(values: np.ndarray, counts: np.ndarray,
                            device: list[tuple[tuple[int, Deferred], ...] | None]) -> None:
        starts = np.cumsum(counts) - counts
        for i, items in enumerate(device):
            if items is None:
                continue
            at = int(starts[i])
            for index, item in items:
                value = item.value
                if type(value) is list:  # packed metrics: the entry's consecutive points
                    values[at + index : at + index + len(value)] = value
                elif value is not None:  # (unreadable: stays NaN)
                    values[at + index] = value

    def _key_ids_of(self, keys: list[tuple[str, ...]]) -> np.ndarray:
        ids_of = self._ids_of
        first = keys[0]
        if keys.count(first) == len(keys):  # the usual loop: the same keys every step (no hashing)
            distinct: set[tuple[str, ...]] | tuple[tuple[str, ...]] = (first,)
        else:
            distinct = set(keys)
        for names in distinct:
            if names not in ids_of:
                ids_of[names] = np.array([self._key_id(n) for n in names], dtype=np.int32)
        if len(distinct) == 1:
            return np.tile(ids_of[first], len(keys))
        return np.concatenate(list(map(ids_of.__getitem__, keys)))

    def _key_id(self, key: str) -> int:
        kid = self._key_ids.get(key)
        if kid is None:
            kid = self._key_ids[key] = len(self.key_names)
            self.key_names.append(key)
        return kid


def series_points(batch: ScalarBatch | None, key_names: list[str]) -> list[SeriesPoints]:
    """A batch's points per key, in logging order within each key (what the store takes)."""
    if batch is None or not len(batch):
        return []
    strided = _strided_keys(batch.key_ids)
    if strided is not None:  # the usual loop: the same keys in the same order every step
        k = len(strided)
        return [SeriesPoints(key_names[int(strided[j])], np.ascontiguousarray(batch.steps[j::k]),
                             np.ascontiguousarray(batch.walls[j::k]),
                             np.ascontiguousarray(batch.values[j::k]))
                for j in np.argsort(strided)]
    order = np.argsort(batch.key_ids, kind="stable")
    cuts = np.flatnonzero(np.diff(batch.key_ids[order])) + 1
    out = []
    for idx in np.split(order, cuts):
        key = key_names[int(batch.key_ids[idx[0]])]
        out.append(SeriesPoints(key, batch.steps[idx], batch.walls[idx], batch.values[idx]))
    return out


def _strided_keys(key_ids: np.ndarray) -> np.ndarray | None:
    """The keys of one entry when every entry of the batch has the same distinct keys in the same
    order (then key j's points are every k-th point from j: slices, no sort); else None."""
    n = len(key_ids)
    first = key_ids[0]
    ends = np.flatnonzero(key_ids == first)
    if len(ends) < 2:
        k = n if len(ends) == 1 else 0
    else:
        k = int(ends[1])
    if k == 0 or n % k:
        return None
    row = key_ids[:k]
    if len(np.unique(row)) != k or not (key_ids.reshape(-1, k) == row).all():
        return None
    return row


def concat(parts: Sequence[ScalarBatch | None]) -> ScalarBatch | None:
    """One batch of several (in order); None when there is nothing."""
    kept = [p for p in parts if p is not None and len(p)]
    if len(kept) <= 1:
        return kept[0] if kept else None
    return ScalarBatch(
        np.concatenate([p.key_ids for p in kept]),
        np.concatenate([p.steps for p in kept]),
        np.concatenate([p.walls for p in kept]),
        np.concatenate([p.values for p in kept]),
    )
