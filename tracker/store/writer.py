"""The batched writer: empties a run's buffers into the store in short transactions.

The caller's ``log()`` only appends to ``scalars`` (a ``ScalarBuffer``); the process's flusher thread
(``flusher.py``) calls ``flush_due()`` every ``interval`` seconds and whenever ``soft_limit`` points
wait. A flush takes whole entries, reads deferred device values in one batch, and writes the
points in transactions of about ``COMMIT_S`` each, so that what a ``kill -9`` can lose stays about
one interval at any logging rate; once it has measured its speed the writer also sizes the
buffer's limits to it (``log()`` waits for the writer past ``hard_limit``: bounded memory, and the
loss window stays bounded when logging outruns writing).

Faults never reach the training loop (README, "Reliability"):
- another process's transaction: the flusher's flushes wait at most ``BACKGROUND_BUSY_S`` for the
  lock and try again at the next round, and ``log()`` never waits on a writer that waits for a
  lock or cannot write. Said once the store has been locked for ``BUSY_TIMEOUT_S``.
- a storage failure (disk full, read-only, I/O): what could not be written is kept in memory
  (``max_retained`` points, ``max_retained_bytes`` of other records), beyond that in a spill file
  next to the store (``spill.py``), and only when that cannot be written either, dropped and
  counted. ``close()`` spills whatever is still unwritten, with the run's final status.
- a record the store refuses for what it holds: dropped and said; the rest is written.
- the store file deleted or replaced (its path names another inode): written to a store at the
  path again, the run's row created there again; said once.
- the run's row deleted (``tracker rm``): nothing more is written for it; said once.
"""

from __future__ import annotations

import os
import queue
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..image_writes import encode_taken
from . import batch, flusher, spill, stale
from .buffer import HARD_LIMIT, ScalarBatch, ScalarBuffer, concat
from .connection import BUSY_TIMEOUT_S, connect, describe_error

HEARTBEAT_EVERY_S = 5.0
BACKGROUND_BUSY_S = 0.25  # how long a flusher's flush waits for another process's lock
COMMIT_S = 0.2  # about how long one transaction of a flush may take (the rest: the next one)
SOFT_S, HARD_S = 0.1, 0.25  # the buffer's limits, in seconds of this writer's measured speed
MIN_COMMIT_POINTS = 10_000
ROOM_WAIT_S = 5.0  # the longest log() waits for a healthy writer to take the buffer
LOCK_WAIT_S = 0.05  # a writer waiting longer than this for the lock is not waited for
MAX_RETAINED = 1_000_000  # unwritten points kept in memory during an outage (28 bytes each)
MAX_RETAINED_BYTES = 64 << 20  # unwritten texts, histograms, graphs... kept in memory


@dataclass
class Outcome:
    """What ``close()`` did with the run's last data."""

    written: bool  # everything reached the store, the final status included
    spilled: list[Path] = field(default_factory=list)  # spill files left for the next writer
    lost_points: int = 0
    lost_records: int = 0
    run_gone: bool = False


class Writer:
    """Owns one run's write connection and buffers."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        run_id: str,
        *,
        db_label: str,
        db_path: Path | None = None,
        interval: float = 1.0,
        scalars: ScalarBuffer | None = None,
        on_new_store: Callable[[sqlite3.Connection], None] | None = None,
        max_retained: int = MAX_RETAINED,
        max_retained_bytes: int = MAX_RETAINED_BYTES,
    ) -> None:
        self.conn: sqlite3.Connection | None = conn
        self.run_id = run_id
        self.db_label = db_label
        self.db_path = db_path
        self.interval = interval
        self.max_retained = max_retained
        self.max_retained_bytes = max_retained_bytes
        self.scalars = scalars if scalars is not None else ScalarBuffer()
        self.records: list[tuple[str, Any]] = []  # ("histogram"|"text", (key, step, wall, obj)) ...
        self.error: BaseException | None = None
        self.dropped = 0  # points not stored: refused by the store, or lost (each said)
        self.lost_points = 0  # lost: neither the store nor a spill file could be written
        self.lost_records: Counter[str] = Counter()
        self.spilled_points = 0  # in this run's spill files, waiting for the store
        self.spilled_records = 0
        self.run_gone = False  # the run's row was deleted: nothing more is written
        self.commit_points = HARD_LIMIT  # points per transaction (sized to COMMIT_S once measured)
        self._on_new_store = on_new_store
        self._identity = _identity(db_path)
        # Unwritten data, oldest first: what the last flushes could not write, then spill files.
        self._unwritten: list[ScalarBatch] = []  # joined only when written or spilled
        self._unwritten_points = 0
        self._unwritten_records: list[tuple[str, Any]] = []
        self._unwritten_bytes = 0
        self._spilled: list[Path] = []
        self._series_ids: dict[tuple[str, str], int] = {}
        self._speed: float | None = None  # points written per second, measured
        # One flush at a time (flusher thread, flush(), finish()). Re-entrant because a SIGTERM
        # handler may finish the run while the main thread is inside a flush.
        self._lock = threading.RLock()
        self._room: queue.SimpleQueue[None] = queue.SimpleQueue()  # a take, for a waiting log()
        self._waiting = False
        self._requested = False
        self._read_requested = False
        self._closed = False
        self._stalled = False  # the last flush could not write (log() then never waits)
        self._tried = 0.0  # when a flush last tried to write (time.monotonic)
        self._acquiring: float | None = None  # since when it waits for the store's write lock
        self._locked_since: float | None = None
        self._said: set[str] = set()
        self._last_flush = time.monotonic()
        self._last_heartbeat = 0.0
        flusher.add(self)

    # -- called from the training thread -------------------------------------------------------
    def wake(self) -> None:
        """Ask for a flush now (the buffer is large)."""
        if not self._requested:  # asked already: waking again costs the caller
            self._requested = True
            flusher.wake()

    def read_deferred_soon(self) -> None:
        """Ask for the deferred device values to be read now, ahead of the next flush."""
        if not self._read_requested:
            self._read_requested = True
            flusher.wake()

    def wait_for_room(self) -> bool:
        """Back-pressure: wait until the flusher has taken the buffer (bounded memory and loss
        window), but only while the writer is writing. A writer waiting for another process's
        lock, or one that cannot write, is not waited for: what it cannot take stays in the
        buffer until it can (memory bounded by the writer's own limits once it takes it).
        Returns whether the writer took the buffer meanwhile."""
        if self._stalled or self._closed or self._waits_for_lock():
            return False
        room = self._room
        while True:  # take back the signal of a take that happened before this wait
            try:
                room.get_nowait()
            except queue.Empty:
                break
        self._waiting = True
        self._requested = False
        self.wake()
        give_up = time.monotonic() + ROOM_WAIT_S
        while True:
            try:
                room.get(timeout=0.05)
                return True
            except queue.Empty:  # the writer may have started to wait for a lock meanwhile
                if self._stalled or self._waits_for_lock() or time.monotonic() > give_up:
                    return False

    def _waits_for_lock(self) -> bool:
        """Whether the writer has been waiting for the write lock for a while (another process's
        transaction; a moment is only this thread waiting for the GIL to note it got the lock)."""
        since = self._acquiring
        return since is not None and time.monotonic() - since > LOCK_WAIT_S

    def due(self, now: float) -> bool:
        """Whether the flusher should flush this writer now."""
        return self._requested or now - self._last_flush >= self.interval

    def next_due(self) -> float:
        """When (time.monotonic) the next flush by time is due."""
        return self._last_flush + self.interval

    @property
    def read_requested(self) -> bool:
        """Whether log() asked for the deferred device values to be read before the next flush."""
        return self._read_requested

    def read_deferred(self) -> None:
        """Read the deferred device values buffered so far (no write to the file)."""
        self._read_requested = False
        with self._lock:
            if not self._closed:
                self.scalars.read_deferred()

    # -- flushing -------------------------------------------------------------------------------
    def flush(self) -> bool:
        """Write everything buffered now (waiting for a busy store); True when it reached the file."""
        with self._lock:
            return True if self._closed else self._flush_locked(patient=True, wait=True)

    def flush_due(self) -> bool:
        """The flusher's flush. On the interval it leaves device values still being computed
        for the next one (reading them would wait); when asked for (a full buffer), it waits.
        It waits for another process's lock only briefly: the next round tries again."""
        with self._lock:
            if self._closed:
                return True
            return self._flush_locked(patient=False, wait=self._requested)

    def close(self, status: str | None = None, ended: float | None = None) -> Outcome:
        """A last flush (with the run's final ``status`` and ``ended`` time in its last
        transaction, when given), then no more. What cannot be written goes to a spill file with
        that status."""
        flusher.remove(self)
        ended = time.time() if ended is None else ended
        with self._lock:
            if self._closed:
                return Outcome(written=True)
            try:
                ok = self._flush_locked(patient=True, wait=True, status=(status, ended))
            except Exception as exc:  # a bug of ours: what is unwritten goes to a spill file
                self.report(exc)
                ok = False
            self._closed = True
            outcome = Outcome(written=ok, run_gone=self.run_gone)
            if not ok and not self.run_gone:
                self._spill_unwritten(status=status, ended=ended)
                outcome.spilled = list(self._spilled)
            outcome.lost_points = self.lost_points
            outcome.lost_records = sum(self.lost_records.values())
            return outcome

    def _flush_locked(
        self, patient: bool, wait: bool, status: tuple[str | None, float] | None = None
    ) -> bool:
        if self.conn is not None and self.conn.in_transaction:
            return False  # re-entered mid-flush on this thread: let that flush finish
        self._requested = self._read_requested = False
        self._last_flush = time.monotonic()
        self._take(wait)
        if self.run_gone:
            self._discard()
            return True
        now = time.time()
        if (not self._unwritten and not self._unwritten_records and not self._spilled
                and status is None and now - self._last_heartbeat < HEARTBEAT_EVERY_S):
            return True
        if self._stalled and not patient and time.monotonic() - self._tried < self.interval:
            self._bound_unwritten()  # the store failed just now: keep, and try again in a while
            return False
        self._tried = time.monotonic()
        try:
            self._check_path()
            self._write_spilled(patient)
            self._write_unwritten(patient, status)
        except batch.RunGone:
            self._on_run_gone()
            return status is None
        except Exception as exc:
            if not (batch.is_storage_fault(exc) or isinstance(exc, StoreError)):
                self._bound_unwritten()
                raise  # a bug of ours: the flusher reports it
            self._series_ids.clear()  # ids created in a rolled-back transaction are gone
            self._stalled = True
            self._on_fault(exc, patient)
            self._bound_unwritten()
            return False
        self._stalled = False
        self._locked_since = None
        self._last_heartbeat = now
        return True

    def _take(self, wait: bool) -> None:
        scalars = self.scalars.take(wait)
        # Copy then delete exactly what was copied: appends racing with us stay in the list.
        records = self.records[:]
        del self.records[: len(records)]
        records, later = encode_taken(records, self.run_id, wait=wait)  # images: encoded here
        if later:  # JAX images still being computed: the next flush takes them
            self.records[0:0] = later
        if self._waiting:
            self._waiting = False
            self._room.put(None)
        if scalars is not None:
            self._unwritten.append(scalars)
            self._unwritten_points += len(scalars)
        if records:
            self._unwritten_records += records
            self._unwritten_bytes += spill.sizes(records)

    @contextmanager
    def _transaction(self, patient: bool) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        assert conn is not None
        if not patient:
            conn.execute(f"PRAGMA busy_timeout = {int(BACKGROUND_BUSY_S * 1000)}")
        self._acquiring = time.monotonic()
        try:
            conn.execute("BEGIN IMMEDIATE")
        finally:
            self._acquiring = None
            if not patient:
                conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise

    def _write_unwritten(self, patient: bool, status: tuple[str | None, float] | None) -> None:
        """Write what waits, oldest first, in transactions of about COMMIT_S each; what one of
        them commits is gone from memory at once, so a fault later keeps only the rest."""
        key_names = self.scalars.key_names
        points = concat(self._unwritten)
        self._unwritten = [] if points is None else [points]
        while True:
            part = points
            if points is not None and len(points) > self.commit_points:
                part = points[: self.commit_points]
            last = part is points
            records = self._unwritten_records if last else []
            started = time.perf_counter()
            final = status if last and status is not None and status[0] is not None else None
            dropped = self._write_in_transaction(
                patient, partial(self._write_part, key_names, part, records, final))
            self._measure(0 if part is None else len(part), time.perf_counter() - started)
            points = None if last else points[len(part):]
            self._unwritten = [] if points is None else [points]
            self._unwritten_points = 0 if points is None else len(points)
            if last:
                self._unwritten_records, self._unwritten_bytes = [], 0
            for d in dropped:
                self._count_dropped(d)
            if last:
                return

    def _write_spilled(self, patient: bool) -> None:
        """Write this run's own spill files back, oldest first, before anything newer."""
        while self._spilled:
            claimed = spill.claim(self._spilled[0])
            if claimed is None:  # another process wrote it in
                self._spilled.pop(0)
                continue
            try:
                data = spill.load(claimed)
            except ValueError as exc:  # damaged: left where it is, said, and not tried again
                spill.unclaim(claimed)
                self._say(f"damaged {claimed}", f"spill file {self._spilled.pop(0)} cannot be "
                          f"read ({exc}); it is left as it is")
                continue
            try:
                dropped = self._write_in_transaction(patient, partial(self._write_spill, data))
            except BaseException:
                spill.unclaim(claimed)
                raise
            spill.done(claimed)
            self._spilled.pop(0)
            self.spilled_points -= 0 if data.scalars is None else len(data.scalars)
            self.spilled_records -= len(data.records)
            for d in dropped:
                self._count_dropped(d)

    def _write_part(
        self, key_names: list[str], part: ScalarBatch | None, records: list[tuple[str, Any]],
        final: tuple[str | None, float] | None, conn: sqlite3.Connection, careful: bool,
    ) -> list[batch.Dropped]:
        dropped = batch.write(conn, self.run_id, key_names, part, records, self._series_ids,
                              careful=careful)
        if final is not None:  # the run's last transaction: its status with its last data
            conn.execute("UPDATE runs SET status = ?, ended = ?, heartbeat = ? WHERE id = ?",
                         (final[0], final[1], final[1], self.run_id))
        return dropped

    def _write_spill(
        self, data: spill.Spilled, conn: sqlite3.Connection, careful: bool
    ) -> list[batch.Dropped]:
        return spill.write_into(conn, data, self._series_ids, careful=careful)

    def _write_in_transaction(
        self, patient: bool, write: Callable[[sqlite3.Connection, bool], list[batch.Dropped]]
    ) -> list[batch.Dropped]:
        """Run ``write(conn, careful)`` in one transaction (with the run's heartbeat); when the
        data itself fails, roll back and write it again carefully (what fails is dropped)."""
        careful = False
        while True:
            try:
                with self._transaction(patient) as conn:
                    batch.touch_run(conn, self.run_id, time.time())
                    return write(conn, careful)
            except Exception as exc:
                if careful or isinstance(exc, batch.RunGone) or batch.is_storage_fault(exc):
                    raise
                self._series_ids.clear()  # ids created in what was rolled back are gone
                careful = True

    def _measure(self, points: int, seconds: float) -> None:
        """Size transactions and the buffer's limits to this writer's speed."""
        if points < 5_000 or seconds <= 0:
            return
        speed = points / seconds
        self._speed = speed if self._speed is None else 0.7 * self._speed + 0.3 * speed
        self.commit_points = max(MIN_COMMIT_POINTS, int(self._speed * COMMIT_S))
        buf = self.scalars
        buf.hard_limit = max(2 * MIN_COMMIT_POINTS, min(HARD_LIMIT, int(self._speed * HARD_S)))
        buf.soft_limit = max(MIN_COMMIT_POINTS // 2, min(buf.hard_limit // 2,
                                                         int(self._speed * SOFT_S)))

    # -- faults ---------------------------------------------------------------------------------
    def _bound_unwritten(self) -> None:
        """Keep unwritten data in memory up to the bounds; past them, all of it goes to a spill
        file (or, when that cannot be written either, is dropped and counted)."""
        if (self._unwritten_points > self.max_retained
                or self._unwritten_bytes > self.max_retained_bytes):
            self._spill_unwritten()

    def _spill_unwritten(self, status: str | None = None, ended: float | None = None) -> None:
        points, records = concat(self._unwritten), self._unwritten_records
        if points is None and not records and status is None:
            return
        assert self.db_path is not None
        data = spill.Spilled(self.run_id, list(self.scalars.key_names), points, records, status,
                             ended)
        try:
            path = spill.write(self.db_path, data)
        except OSError as exc:
            n = 0 if points is None else len(points)
            self.dropped += n
            self.lost_points += n
            for kind, _ in records:
                self.lost_records[kind] += 1
            self._say("lost", f"points of run {self.run_id} are being lost: neither the store "
                      f"nor a spill file can be written ({_why(exc)})")
        else:
            self._spilled.append(path)
            self.spilled_points += 0 if points is None else len(points)
            self.spilled_records += len(records)
            self._say("spill", f"run {self.run_id}: the store still cannot be written; what waits "
                      f"in memory is moved to {spill.folder(self.db_path)} and written to the "
                      "store as soon as it can be")
        self._unwritten, self._unwritten_records, self._unwritten_bytes = [], [], 0
        self._unwritten_points = 0

    def _on_fault(self, exc: BaseException, patient: bool) -> None:
        locked = "locked" in str(exc).lower() or "busy" in str(exc).lower()
        if locked and not patient:
            now = time.monotonic()
            if self._locked_since is None:
                self._locked_since = now
            if now - self._locked_since < BUSY_TIMEOUT_S:
                return  # another process's transaction: usual, and retried at the next round
        self.report(exc)

    def report(self, exc: BaseException) -> None:
        """Keep a storage error (strict runs raise it) and warn about it once."""
        err = describe_error(exc, self.db_label) if isinstance(exc, sqlite3.Error) else exc
        self.error = err
        self._say("fault", f"cannot write to the store ({err}); training goes on: run "
                  f"{self.run_id}'s logged values wait in memory (up to {self.max_retained:,} "
                  f"points and {self.max_retained_bytes >> 20} MB of other records), then in "
                  "spill files next to the store, and are written when it can be written again")

    def _count_dropped(self, d: batch.Dropped) -> None:
        if d.kind == "scalar":
            self.dropped += d.count
        self._say(f"dropped {d.kind} {d.key}", f"run {self.run_id}: {d} could not be stored "
                  f"and {'was' if d.count == 1 else 'were'} dropped ({d.reason}); the rest of "
                  "the run is written")

    def _on_run_gone(self) -> None:
        self.run_gone = True
        self._say("gone", f"run {self.run_id} was deleted from {self.db_label} while this "
                  "process was logging to it; nothing more is written for it")
        self._discard()
        for path in self._spilled:
            claimed = spill.claim(path)
            if claimed is not None:
                spill.done(claimed)
        self._spilled = []

    def _discard(self) -> None:
        self._unwritten, self._unwritten_records, self._unwritten_bytes = [], [], 0
        self._unwritten_points = 0

    def _check_path(self) -> None:
        """Write to a store at the path again when the path no longer names the open file."""
        if self.db_path is None:
            return
        try:
            st = os.stat(self.db_path)
        except FileNotFoundError:
            st = None
        except OSError:
            return  # cannot tell (a folder without permission): the write will say
        if self.conn is not None and st is not None and (st.st_dev, st.st_ino) == self._identity:
            return
        old, self.conn = self.conn, None
        if old is not None:
            stale.let_go(old, replaced=st is not None)
            self._say("moved", f"{self.db_path} no longer is the file run {self.run_id} was "
                      f"writing to ({'replaced' if st is not None else 'deleted'}); from now on "
                      "the run is written to a store at that path (created again if needed)")
        conn = connect(self.db_path, create=True, cache_kib=4_000)
        try:
            if self._on_new_store is not None:
                self._on_new_store(conn)
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        self._identity = _identity(self.db_path)
        self._series_ids.clear()

    def _say(self, what: str, message: str) -> None:
        if what not in self._said:
            self._said.add(what)
            print(f"tracker: {message}", file=sys.stderr)


def _identity(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _why(exc: BaseException) -> str:
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
