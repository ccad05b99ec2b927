"""The batched writer: empties a run's buffers into the store in short transactions, through the
store's backend interface (``tracker.store.backend``: plain arrays and records, no SQL).

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

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StoreError
from ..notices import Once
from ..store.backend import (
    BusyError,
    Dropped,
    FinalStatus,
    Record,
    RunGoneError,
    RunStart,
    WriteBackend,
    WriteBatch,
    record_kind,
)
from ..urls import ServerURL
from . import flusher, spill, start
from .buffer import HARD_LIMIT, ScalarBatch, ScalarBuffer, concat, series_points
from .image_writes import ImagePending, encode_taken

HEARTBEAT_EVERY_S = 5.0
BUSY_SAY_AFTER_S = 30.0  # a store locked by others this long is said (the flusher retries meanwhile)
COMMIT_S = 0.2  # about how long one transaction of a flush may take (the rest: the next one)
SOFT_S, HARD_S = 0.1, 0.25  # the buffer's limits, in seconds of this writer's measured speed
MIN_COMMIT_POINTS = 10_000
ROOM_WAIT_S = 5.0  # the longest log() waits for a healthy writer to take the buffer
LOCK_WAIT_S = 0.05  # a writer waiting longer than this for the lock is not waited for
MAX_RETAINED = 1_000_000  # unwritten points kept in memory during an outage (28 bytes each)
MAX_RETAINED_BYTES = 64 << 20  # unwritten texts, histograms, graphs... kept in memory
# How long finish() keeps trying a server store that cannot be written (the network may be
# back in a moment) before it leaves what waits in spill files for `tracker sync`.
FINISH_WAIT_S = 15.0
FINISH_RETRY_S = 0.5


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
        backend: WriteBackend,
        run_id: str,
        *,
        db_label: str,
        db_path: Path | None = None,
        interval: float = 1.0,
        scalars: ScalarBuffer | None = None,
        run_row: Callable[[], RunStart] | None = None,
        max_retained: int = MAX_RETAINED,
        max_retained_bytes: int = MAX_RETAINED_BYTES,
    ) -> None:
        self.backend = backend
        self.run_id = run_id
        self.db_label = db_label
        self.db_path = db_path
        self.interval = interval
        self.max_retained = max_retained
        self.max_retained_bytes = max_retained_bytes
        self.scalars = scalars if scalars is not None else ScalarBuffer()
        # texts, histograms, images (encoded when taken), graphs, summaries... in logging order
        self.records: list[Record | ImagePending] = []
        # The last storage error (for messages), and one a strict run has not raised yet.
        self.error: BaseException | None = None
        self.unraised: BaseException | None = None
        self.dropped = 0  # points not stored: refused by the store, or lost (each said)
        self.lost_points = 0  # lost: neither the store nor a spill file could be written
        self.lost_records: Counter[str] = Counter()
        self.spilled_points = 0  # in this run's spill files, waiting for the store
        self.spilled_records = 0
        self.run_gone = False  # the run's row was deleted: nothing more is written
        self.commit_points = HARD_LIMIT  # points per transaction (sized to COMMIT_S once measured)
        self._run_row = run_row  # the run's row as it is now (recreated in a replaced store)
        # Unwritten data, oldest first: what the last flushes could not write, then spill files.
        self._unwritten: list[ScalarBatch] = []  # joined only when written or spilled
        self._unwritten_points = 0
        self._unwritten_records: list[Record] = []
        self._unwritten_bytes = 0
        self._spilled: list[Path] = []
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
        self._locked_since: float | None = None
        self._said = Once()  # what this writer has said (once each)
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
        since = self.backend.waiting_for_lock_since()
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
            ok = self._final_flush(status, ended)
            self._closed = True
            outcome = Outcome(written=ok, run_gone=self.run_gone)
            if not ok and not self.run_gone:
                self._spill_unwritten(status=status, ended=ended)
                outcome.spilled = list(self._spilled)
            outcome.lost_points = self.lost_points
            outcome.lost_records = sum(self.lost_records.values())
            return outcome

    def _final_flush(self, status: str | None, ended: float) -> bool:
        """The last flush, with the final status; a server store that cannot be written is tried
        again for up to FINISH_WAIT_S (a file store: once)."""
        deadline = time.monotonic() + FINISH_WAIT_S
        while True:
            try:
                ok = self._flush_locked(patient=True, wait=True, status=(status, ended))
            except Exception as exc:  # a bug of ours: what is unwritten goes to a spill file
                self.report(exc)
                return False
            if ok or self.run_gone or not isinstance(self.db_path, ServerURL):
                return ok
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(FINISH_RETRY_S, left))

    def _flush_locked(
        self, patient: bool, wait: bool, status: tuple[str | None, float] | None = None
    ) -> bool:
        if self.backend.in_write():
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
        except RunGoneError:
            self._on_run_gone()
            return status is None
        except Exception as exc:
            if not isinstance(exc, (StoreError, OSError)):
                self._bound_unwritten()
                raise  # a bug of ours: the flusher reports it
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
        taken = self.records[:]
        del self.records[: len(taken)]
        records, later = encode_taken(taken, self.run_id, wait=wait)  # images: encoded here
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
            final = None
            if last and status is not None and status[0] is not None:
                final = FinalStatus(status[0], status[1])
            batch = WriteBatch(series_points(part, key_names), records)
            dropped = self.backend.write(self.run_id, batch, patient=patient, final=final,
                                         now=time.time())
            self._measure(0 if part is None else len(part), time.perf_counter() - started)
            if last:
                points = None
            else:  # a part was cut from points
                assert points is not None and part is not None
                points = points[len(part):]
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
                dropped = spill.write_back(self.backend, data, patient=patient, now=time.time())
            except BaseException:
                spill.unclaim(claimed)
                raise
            spill.done(claimed)
            self._spilled.pop(0)
            self.spilled_points -= 0 if data.scalars is None else len(data.scalars)
            self.spilled_records -= len(data.records)
            for d in dropped:
                self._count_dropped(d)

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
            for record in records:
                self.lost_records[record_kind(record)] += 1
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
        if isinstance(exc, BusyError) and not patient:
            now = time.monotonic()
            if self._locked_since is None:
                self._locked_since = now
            if now - self._locked_since < BUSY_SAY_AFTER_S:
                return  # another process's transaction: usual, and retried at the next round
        self.report(exc)

    def report(self, exc: BaseException) -> None:
        """Keep a storage error (strict runs raise it) and warn about it once."""
        err = exc  # the backend's errors say what happened in one line already
        self.error = self.unraised = err
        self._say("fault", f"cannot write to the store ({err}); training goes on: run "
                  f"{self.run_id}'s logged values wait in memory (up to {self.max_retained:,} "
                  f"points and {self.max_retained_bytes >> 20} MB of other records), then in "
                  f"spill files in {self._spill_folder()}, and are written when it can be "
                  "written again")

    def _count_dropped(self, d: Dropped) -> None:
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
        host, pid = start.here()
        row = None if self._run_row is None else self._run_row()
        moved = self.backend.reopen_if_moved(row, host=host, pid=pid, now=time.time())
        if moved in ("replaced", "deleted"):
            self._say("moved", f"{self.db_path} no longer is the file run {self.run_id} was "
                      f"writing to ({moved}); from now on the run is written to a store at that "
                      "path (created again if needed)")

    def _spill_folder(self) -> str:
        """Where this run's spill files go, for messages ("no store" for a run without one)."""
        return "no store" if self.db_path is None else str(spill.folder(self.db_path))

    def _say(self, what: str, message: str) -> None:
        self._said.warn(what, message)


def _why(exc: BaseException) -> str:
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
