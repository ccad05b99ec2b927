"""The SQLite ``WriteBackend``: one write connection on a store file (a run's, or an edit's)."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..backend import (
    BusyError,
    ConflictError,
    Dropped,
    FinalStatus,
    NewRun,
    RunGoneError,
    RunStart,
    StorageFault,
    StoreError,
    WriteBatch,
)
from . import batch, edits, marks, pool, runs, stale
from .connection import BUSY_TIMEOUT_S, connect, describe_error, transaction

BACKGROUND_BUSY_S = 0.25  # how long a write that is not patient waits for another process's lock
RUN_CACHE_KIB = 4_000  # a run's page cache: small, so a training process does not grow by it
EDIT_CACHE_KIB = 2_000

T = TypeVar("T")


class SqliteWriter:
    """A write handle on one SQLite store file (see ``tracker.store.backend.WriteBackend``)."""

    def __init__(self, path: Path, *, for_run: bool = True) -> None:
        self.path = path
        self.location = str(path)
        self._pooled = for_run
        if for_run:  # a run's: from the process's pool (a sweep reuses them), created if need be
            conn = _guarded(lambda: pool.acquire(path, cache_kib=RUN_CACHE_KIB), path)
        else:  # an edit's: the store must exist at this tracker's schema (never made or migrated)
            conn = _guarded(lambda: connect(path, create=False, migrate=False,
                                            cache_kib=EDIT_CACHE_KIB), path)
        self.conn: Any = conn  # sqlite3.Connection (a test stands a failing one in)
        self._identity = _identity(path)
        self._series_ids: dict[tuple[str, str], int] = {}  # (kind, key) -> series id ...
        self._series_run: str | None = None  # ... of this run's (a sync writes run after run)
        self._acquiring: float | None = None

    # -- runs ---------------------------------------------------------------------------------------
    def create_run(self, new: NewRun) -> RunStart:
        return self._do(lambda: runs.create(self.conn, new))

    def load_run(self, run_id: str) -> RunStart | None:
        return self._do(lambda: runs.load(self.conn, run_id))

    def resume_run(self, run_id: str, *, config: dict[str, Any], tags: list[str],
                   notes: str | None, host: str, pid: int, now: float) -> RunStart | None:
        def resume() -> RunStart | None:
            row = runs.load(self.conn, run_id)
            if row is None:
                return None
            row.config.update(config)
            row.tags += [t for t in tags if t not in row.tags]
            row.next_step = runs.next_step(self.conn, run_id)
            runs.resume(self.conn, run_id, row.config, row.tags, notes, host, pid, now)
            return row

        return self._do(resume)

    def ensure_run(self, run: RunStart, *, host: str, pid: int, now: float) -> None:
        self._do(lambda: runs.recreate(self.conn, run, host, pid, now))

    # -- the run's data -----------------------------------------------------------------------------
    def write(self, run_id: str, batch_: WriteBatch, *, patient: bool = True,
              final: FinalStatus | None = None, now: float | None) -> list[Dropped]:
        careful = False
        if run_id != self._series_run:
            self._series_ids.clear()
            self._series_run = run_id
        while True:
            try:
                with self._transaction(patient) as conn:
                    if not runs.touch(conn, run_id, now):
                        raise RunGoneError(f"run {run_id} is not in {self.location}")
                    if batch_.expect is not None:
                        marks.check(conn, run_id, batch_.expect)
                    dropped = batch.write(conn, run_id, batch_, self._series_ids, careful=careful)
                    if final is not None:
                        runs.set_final(conn, run_id, final.status, final.ended,
                                       final.only_if_running)
                    return dropped
            except (RunGoneError, ConflictError):
                raise
            except Exception as exc:
                self._series_ids.clear()  # ids created in what was rolled back are gone
                if batch.is_storage_fault(exc):
                    raise _fault(exc, self.location) from None
                if careful:
                    raise  # a bug of ours
                careful = True  # the data failed: write it again part by part

    @contextmanager
    def _transaction(self, patient: bool) -> Iterator[Any]:
        conn = self.conn
        if conn is None:
            raise StorageFault(f"{self.location} could not be opened")
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

    def waiting_for_lock_since(self) -> float | None:
        return self._acquiring

    def in_write(self) -> bool:
        return self.conn is not None and bool(self.conn.in_transaction)

    def reopen_if_moved(self, run: RunStart | None = None, *, host: str = "", pid: int = 0,
                        now: float = 0.0) -> Literal["replaced", "deleted", "reopened"] | None:
        """When the path no longer names the open file (deleted, replaced) or none is open, open
        a store there (created if need be) and recreate ``run``'s row in it; say which."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        except OSError:
            return None  # cannot tell (a folder without permission): the write will say
        if self.conn is not None and st is not None and (st.st_dev, st.st_ino) == self._identity:
            return None
        old, self.conn = self.conn, None
        said: Literal["replaced", "deleted", "reopened"] = "reopened"
        if old is not None:
            stale.let_go(old, replaced=st is not None)
            said = "replaced" if st is not None else "deleted"
        conn = _guarded(lambda: connect(self.path, create=True, cache_kib=RUN_CACHE_KIB),
                        self.path)
        try:
            if run is not None:
                runs.recreate(conn, run, host, pid, now)
        except sqlite3.Error as exc:
            conn.close()
            raise _fault(exc, self.location) from None
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        self._identity = _identity(self.path)
        self._series_ids.clear()
        return said

    # -- edits --------------------------------------------------------------------------------------
    def rename_run(self, run_id: str, name: str) -> None:
        self._edit(lambda conn: edits.rename_run(conn, run_id, name))

    def set_tags(self, run_id: str, tags: list[str]) -> None:
        self._edit(lambda conn: edits.set_tags(conn, run_id, tags))

    def set_notes(self, run_id: str, notes: str | None) -> None:
        self._edit(lambda conn: edits.set_notes(conn, run_id, notes))

    def set_run_times(self, run_id: str, started: float | None, ended: float | None) -> None:
        self._edit(lambda conn: edits.set_run_times(conn, run_id, started, ended))

    def set_run_host(self, run_id: str, host: str | None) -> None:
        self._edit(lambda conn: edits.set_run_host(conn, run_id, host))

    def delete_runs(self, run_ids: Iterable[str]) -> int:
        ids = list(run_ids)
        if not ids:
            return 0
        result: list[int] = []
        self._edit(lambda conn: result.append(edits.delete_runs(conn, ids)))
        return result[0]

    def _edit(self, change: Any) -> None:
        def run() -> None:
            with transaction(self.conn) as conn:
                change(conn)

        self._do(run)

    def _do(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except sqlite3.Error as exc:
            raise describe_error(exc, self.location) from None

    # -- the handle ---------------------------------------------------------------------------------
    def close(self, *, healthy: bool = True) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        if healthy and self._pooled:
            pool.release(self.path, conn)
            return
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - a broken connection at the very end
            pass

    def abandon(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            stale.abandon(conn)


def _fault(exc: BaseException, location: str) -> StoreError:
    """A storage fault as the interface's error (the message says what to do)."""
    if isinstance(exc, sqlite3.Error):
        err = describe_error(exc, location)
        low = str(exc).lower()
        if "locked" in low or "busy" in low:
            return BusyError(str(err))
        return StorageFault(str(err))
    if isinstance(exc, OSError):
        return StorageFault(str(exc))
    return StorageFault(str(exc))


def _guarded(open_: Any, path: Path) -> Any:
    try:
        return open_()
    except sqlite3.Error as exc:
        raise describe_error(exc, path) from None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino
