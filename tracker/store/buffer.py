"""The scalar buffer between ``Run.log()`` and the writer thread: packed arrays, no per-point objects.

``log()`` appends each value to ``values`` (float64) and its key's id to ``key_ids``, then the entry's
``counts``, ``walls`` and finally ``steps``: an entry is visible to the writer once its step is
appended. ``take()`` copies and deletes only whole visible entries, so it needs no lock against the
appending thread (each slice copy or delete is atomic under the GIL). Memory is about 12 bytes per
point plus 20 per ``log()`` call.

Device values (a CUDA tensor, a JAX array) go in as NaN with the handle in ``deferred``, keyed by
the point's position in the stream, and are read by the writer in one batch.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..values import resolve_deferred


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

    def take(self) -> ScalarBatch | None:
        """Remove every complete entry and return its points (None when empty)."""
        entries = len(self.steps)  # read first: entries up to here have all their points appended
        if not entries:
            return None
        counts = np.frombuffer(self.counts[:entries], dtype=np.uint32)
        points = int(counts.sum())
        values = np.frombuffer(self.values[:points], dtype=np.float64).copy()
        key_ids = np.frombuffer(self.key_ids[:points], dtype=np.int32)
        steps = np.frombuffer(self.steps[:entries], dtype=np.int64)
        walls = np.frombuffer(self.walls[:entries], dtype=np.float64)
        del self.values[:points], self.key_ids[:points]
        del self.counts[:entries], self.walls[:entries], self.steps[:entries]
        first, end = self.taken, self.taken + points
        self.taken = end
        n_def = 0
        for position, _ in self.deferred:
            if position >= end:
                break
            n_def += 1
        if n_def:
            mine = self.deferred[:n_def]
            del self.deferred[:n_def]
            resolved = resolve_deferred([d for _, d in mine])
            for (position, _), value in zip(mine, resolved):
                values[position - first] = value
        return ScalarBatch(
            key_ids=key_ids,
            steps=np.repeat(steps, counts),
            walls=np.repeat(walls, counts),
            values=values,
        )

    def pending(self) -> int:
        """Points appended but not taken yet."""
        return self.appended - self.taken
