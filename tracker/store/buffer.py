"""The scalar buffer between ``Run.log()`` and the writer thread: packed arrays, no per-point objects.

``log()`` appends each value to ``values`` (float64) and its key's id to ``key_ids``, then the entry's
``counts``, ``walls`` and finally ``steps``: an entry is visible to the writer once its step is
appended. ``take()`` copies and deletes only whole visible entries, so it needs no lock against the
appending thread (each slice copy or delete is atomic under the GIL). Memory is about 12 bytes per
point plus 20 per ``log()`` call.

Device values (a CUDA tensor, a JAX array) go in as NaN with the handle in ``deferred``, keyed by
the point's position in the stream, and are read by the writer in one batch (packed JAX metrics:
one 1-d array for the consecutive points of one entry). JAX arrays on CPU are also queued in
``unread`` for the logging thread to read itself, once computed (``read_here``): measured on a
2-core machine with a 0.2 ms jitted step, the writer thread reading them slowed it by 7-12% (it
preempts XLA's threads), the loop's own thread by 2-8%.
"""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..values import JAX_KINDS, Deferred, is_jax_on_cpu, is_ready, read_if_ready, resolve_deferred

# Device handles waiting to be read that make log() ask the writer to read them before its next
# flush (once a second). Measured with JAX on CPU: 2,000 arrays kept alive slowed a 0.2 ms step by
# 7%, 5,000 by 17% (dispatch cost grows with live arrays); 512 cost nothing measurable.
READ_EARLY_AT = 128


@dataclass
class ScalarBatch:
    """Taken points as numpy arrays, one element per point."""

    key_ids: np.ndarray  # int32
    steps: np.ndarray  # int64
    walls: np.ndarray  # float64
    values: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.values)


class ScalarBuffer:
    """Packed columns of logged scalars; appended by the caller, taken by the writer."""

    def __init__(self) -> None:
        self.values = array("d")
        self.key_ids = array("i")
        self.counts = array("I")  # points per log() call
        self.walls = array("d")
        self.steps = array("q")
        self.key_names: list[str] = []  # key id -> key
        self.key_index: dict[str, int] = {}  # key -> key id
        self.deferred: list[tuple[int, Any]] = []  # (point position, Deferred)
        # JAX-on-CPU handles the logging thread reads itself (read_here), oldest first
        self.unread: deque[Deferred] = deque()
        self.read_here: bool | None = None  # decided by the first JAX handle's platform
        # log() asks the writer to read device handles early once this many wait (see read_deferred)
        self.read_deferred_at = READ_EARLY_AT
        self.appended = 0  # points appended so far (caller side)
        self.taken = 0  # points taken so far (writer side)

    def key_id(self, key: str) -> int:
        """The id of a key, assigned on first use (caller thread only)."""
        kid = self.key_index.get(key)
        if kid is None:
            kid = len(self.key_names)
            self.key_names.append(key)  # before the index: the writer may look it up at once
            self.key_index[key] = kid
        return kid

    def defer(self, position: int, item: Deferred) -> None:
        """Queue a device value for the point at ``position`` (caller thread, under its lock;
        a "jaxvec" array fills the points from ``position`` on, appended before it is queued)."""
        self.deferred.append((position, item))
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
        may skip an item here; the writer then reads it (``deferred`` holds every one).
        """
        unread = self.unread
        try:
            while older > 0 and read_if_ready(unread[0]):
                unread.popleft()
                older -= 1
        except IndexError:  # another logging thread emptied it meanwhile
            pass
        return len(unread) >= READ_EARLY_AT

    def take(self, wait: bool = True) -> ScalarBatch | None:
        """Remove complete entries and return their points (None when there are none).

        With ``wait`` every visible entry is taken, reading device values even if that means
        waiting for the device; without it only the entries before the first value still being
        computed (the rest stay for the next take).
        """
        entries = len(self.steps)  # read first: entries up to here have all their points appended
        if not entries:
            return None
        counts = np.frombuffer(self.counts[:entries], dtype=np.uint32)
        points = int(counts.sum())
        end = self.read_deferred(self.taken + points, wait=wait)
        if end < self.taken + points:  # a value not computed yet: take the entries before it
            ends = np.cumsum(counts, dtype=np.int64)
            entries = int(np.searchsorted(ends, end - self.taken, side="right"))
            if not entries:
                return None
            counts, points = counts[:entries], int(ends[entries - 1])
        values = np.frombuffer(self.values[:points], dtype=np.float64).copy()
        key_ids = np.frombuffer(self.key_ids[:points], dtype=np.int32)
        steps = np.frombuffer(self.steps[:entries], dtype=np.int64)
        walls = np.frombuffer(self.walls[:entries], dtype=np.float64)
        del self.values[:points], self.key_ids[:points]
        del self.counts[:entries], self.walls[:entries], self.steps[:entries]
        self.taken += points
        return ScalarBatch(
            key_ids=key_ids,
            steps=np.repeat(steps, counts),
            walls=np.repeat(walls, counts),
            values=values,
        )

    def read_deferred(self, limit: int | None = None, wait: bool = False) -> int:
        """Read deferred device values of points before ``limit`` (default: every point whose
        value slot is appended) into the buffer, in one batch; writer side only.

        Without ``wait`` reading stops at the first value the device has not computed yet: a
        read that waits holds this thread, and, measured with JAX on CPU, slowed the training
        loop as much as a sync per step. Returns the position of the first point left unread
        (``limit`` when none is).
        """
        if limit is None:
            limit = self.taken + len(self.values)
        # A handle is queued before its NaN placeholder: stop at slots not appended yet.
        n = 0
        stop = limit
        for position, item in self.deferred:
            if position >= limit:
                break
            if not wait and not is_ready(item):
                stop = position
                break
            n += 1
        if n:
            mine = self.deferred[:n]
            del self.deferred[:n]
            resolved = resolve_deferred([d for _, d in mine])  # the handles go: they have a cost
            first = self.taken
            for (position, _), value in zip(mine, resolved):
                if type(value) is list:  # packed metrics: their consecutive points
                    at = position - first
                    self.values[at : at + len(value)] = array("d", value)
                else:  # (an unreadable packed array gives NaN: its slots are NaN already)
                    self.values[position - first] = value
        # Not ready yet (a device running behind): ask again only after as many more.
        self.read_deferred_at = len(self.deferred) + READ_EARLY_AT
        return stop

    def pending(self) -> int:
        """Points appended but not taken yet."""
        return self.appended - self.taken
