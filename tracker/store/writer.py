"""The batched writer: empties a run's buffers, one transaction per flush.

The caller's ``log()`` only appends to ``scalars`` (a packed ``ScalarBuffer``); the process's
flusher thread (``flusher.py``) calls ``flush()`` when it is due, which takes
whole entries from it, reads deferred device values in one batch, and writes the points with the
series summaries, chart blocks and packed chunks. A flush happens every ``interval`` seconds, when the
buffer passes ``soft_limit`` points, and on ``flush()``/``close()``.

A storage failure never reaches the training loop: the batch is kept for the next try (bounded by
``max_retained`` points, oldest dropped first) and one warning is printed. With ``strict`` the
error is kept in ``error`` for the run to raise.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from typing import Any

import numpy as np

from . import artifacts, flusher, series_writes
from .buffer import ScalarBatch, ScalarBuffer
from .connection import describe_error, transaction

HEARTBEAT_EVERY_S = 5.0


class Writer:
    """Owns one run's write connection and buffers."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        run_id: str,
        *,
        db_label: str,
        interval: float = 1.0,
        soft_limit: int = 100_000,
        hard_limit: int = 300_000,
        max_retained: int = 1_000_000,
    ) -> None:
        self.conn = conn
        self.run_id = run_id
        self.db_label = db_label
        self.interval = interval
        self.soft_limit = soft_limit  # buffered points that wake the writer
        self.hard_limit = hard_limit  # buffered points that make log() wait (bounded memory)
        self.max_retained = max_retained
        self.scalars = ScalarBuffer()
        self.records: list[tuple[str, Any]] = []  # ("histogram"|"text", (key, step, wall, obj)) ...
        self.error: BaseException | None = None
        self.dropped = 0
        self._retry_scalars: ScalarBatch | None = None
        self._retry_records: list[tuple[str, Any]] = []
        self._series_ids: dict[tuple[str, str], int] = {}
        # One flush at a time (flusher thread, flush(), finish()). Re-entrant because a SIGTERM
        # handler may finish the run while the main thread is inside a flush.
        self._lock = threading.RLock()
        self._taken = threading.Event()
        self._requested = False
        self._read_requested = False
        self._closed = False
        self._warned = False
        self._last_flush = time.monotonic()
        self._last_heartbeat = 0.0
        flusher.add(self)

    # -- called from the training thread -------------------------------------------------------
    def wake(self) -> None:
        """Ask for a flush now (the buffer is large)."""
        self._requested = True
        flusher.wake()

    def read_deferred_soon(self) -> None:
        """Ask for the deferred device values to be read now, ahead of the next flush."""
        if not self._read_requested:  # asked already: waking again costs the caller
            self._read_requested = True
            flusher.wake()

    def read_deferred(self) -> None:
        """Read the deferred device values buffered so far (no write to the file)."""
        self._read_requested = False
        with self._lock:
            if not self._closed:
                self.scalars.read_deferred()

    def wait_for_room(self, timeout: float = 10.0) -> None:
        """Back-pressure: wait until the flusher has taken the buffer (bounded memory)."""
        self._taken.clear()
        self.wake()
        self._taken.wait(timeout)

    def due(self, now: float) -> bool:
        """Whether the flusher should flush this writer now."""
        return self._requested or now - self._last_flush >= self.interval

    @property
    def read_requested(self) -> bool:
        """Whether log() asked for the deferred device values to be read before the next flush."""
        return self._read_requested

    def flush(self) -> bool:
        """Write everything buffered now; True when it reached the file."""
        with self._lock:
            return True if self._closed else self._flush_locked(wait=True)

    def flush_due(self) -> bool:
        """The flusher's flush. On the interval it leaves device values still being computed
        for the next one (reading them would wait); when asked for (a full buffer), it waits."""
        with self._lock:
            return True if self._closed else self._flush_locked(wait=self._requested)

    def close(self) -> bool:
        """A last flush, then no more: the connection goes back to its owner."""
        flusher.remove(self)
        with self._lock:
            if self._closed:
                return True
            ok = self._flush_locked(wait=True)
            self._closed = True
            return ok

    def _take(self, wait: bool) -> tuple[ScalarBatch | None, list]:
        scalars = self.scalars.take(wait)
        # Copy then delete exactly what was copied: appends racing with us stay in the list.
        records = self.records[:]
        del self.records[: len(records)]
        self._taken.set()
        return scalars, records

    def _flush_locked(self, wait: bool) -> bool:
        if self.conn.in_transaction:  # re-entered from a signal handler mid-flush: let it finish
            return False
        self._requested = self._read_requested = False
        self._last_flush = time.monotonic()
        scalars, records = self._take(wait)
        if self._retry_scalars is not None or self._retry_records:
            scalars = _concat(self._retry_scalars, scalars)
            records = self._retry_records + records
            self._retry_scalars, self._retry_records = None, []
        now = time.time()
        if scalars is None and not records and now - self._last_heartbeat < HEARTBEAT_EVERY_S:
            return True
        try:
            with transaction(self.conn):
                self._write(scalars, records)
                self.conn.execute(
                    "UPDATE runs SET heartbeat = ? WHERE id = ?", (now, self.run_id)
                )
            self._last_heartbeat = now
            return True
        except (sqlite3.Error, OSError) as exc:
            self._series_ids.clear()  # ids created in the rolled-back transaction are gone
            self._keep_for_retry(scalars, records)
            self.report(exc)
            return False
        except Exception as exc:  # a bug or an unreadable value: drop this batch, keep going
            self._series_ids.clear()
            self.dropped += len(scalars) if scalars is not None else 0
            self.report(exc)
            return False

    def _keep_for_retry(self, scalars: ScalarBatch | None, records: list) -> None:
        if scalars is not None and len(scalars) > self.max_retained:
            cut = len(scalars) - self.max_retained  # drop the oldest points
            self.dropped += cut
            scalars = ScalarBatch(
                scalars.key_ids[cut:], scalars.steps[cut:], scalars.walls[cut:], scalars.values[cut:]
            )
        self._retry_scalars = scalars
        self._retry_records = records[-10_000:]

    def report(self, exc: BaseException) -> None:
        """Keep a storage error (strict runs raise it) and warn about it once."""
        err = describe_error(exc, self.db_label) if isinstance(exc, sqlite3.Error) else exc
        self.error = err
        if not self._warned:
            self._warned = True
            print(
                f"tracker: cannot write to the store ({err}); training goes on and logged values "
                "are kept in memory and retried",
                file=sys.stderr,
            )

    def _sid(self, kind: str, key: str) -> int:
        sid = self._series_ids.get((kind, key))
        if sid is None:
            sid = series_writes.series_id(self.conn, self.run_id, kind, key)
            self._series_ids[(kind, key)] = sid
        return sid

    def _write(self, scalars: ScalarBatch | None, records: list) -> None:
        if scalars is not None:
            names = self.scalars.key_names
            order = np.argsort(scalars.key_ids, kind="stable")  # per key, logging order kept
            sorted_ids = scalars.key_ids[order]
            cuts = np.flatnonzero(np.diff(sorted_ids)) + 1
            for part in np.split(order, cuts):
                key = names[int(scalars.key_ids[part[0]])]
                series_writes.append_scalars(
                    self.conn,
                    self._sid("scalar", key),
                    scalars.steps[part],
                    scalars.walls[part],
                    scalars.values[part],
                )
        by_kind: dict[tuple[str, str], list] = {}
        for kind, payload in records:
            if kind in ("histogram", "text"):
                key, step, wall, obj = payload
                by_kind.setdefault((kind, key), []).append((step, wall, obj))
            elif kind == "graph":
                artifacts.write_graph(self.conn, self.run_id, payload)
            elif kind == "profile":
                artifacts.write_profile(self.conn, self.run_id, payload)
            elif kind == "sql":  # run metadata updates (status, tags, summary)
                self.conn.execute(*payload)
        for (kind, key), items in by_kind.items():
            sid = self._sid(kind, key)
            if kind == "histogram":
                series_writes.append_histograms(self.conn, sid, items)
            else:
                series_writes.append_texts(self.conn, sid, items)


def _concat(a: ScalarBatch | None, b: ScalarBatch | None) -> ScalarBatch | None:
    if a is None or b is None:
        return a if b is None else b
    return ScalarBatch(
        np.concatenate((a.key_ids, b.key_ids)),
        np.concatenate((a.steps, b.steps)),
        np.concatenate((a.walls, b.walls)),
        np.concatenate((a.values, b.values)),
    )
