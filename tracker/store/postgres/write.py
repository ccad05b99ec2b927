"""The PostgreSQL write handle: a run's rows and batches, and a user's edits (see backend.py).

Each method is one transaction. A lost connection (server restart, network) is a
``StorageFault``: nothing of the batch was written, and the next call connects again. Run rows of
different processes never share a lock, so many writers on many hosts do not wait on each other;
creating a run takes a per-project advisory lock only to number its default name.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ...graph import Graph
from ...names import readable_name
from ...profile import Profile
from ...urls import ServerURL
from ..backend import (
    ConfigSet,
    ConsoleLines,
    Dropped,
    FinalStatus,
    HistogramItem,
    ImageItem,
    NewRun,
    RunGoneError,
    RunStart,
    SeriesPoints,
    StorageFault,
    SummaryPatch,
    TextItem,
    WriteBatch,
)
from ..sqlite import marks
from . import points
from .connection import QmarkCursor, connect, describe, is_connection_lost, psycopg, translated
from .records import append_lines, merge_patch, write_graph, write_profile

_SERVER_NOW = "extract(epoch from clock_timestamp())"
BRIEF_LOCK_WAIT = "100ms"  # a write that must not wait (patient=False)
_abandoned: list[Any] = []  # a forked child's inherited connections: never closed, never freed


_T = TypeVar("_T")

class PostgresWriteBackend:
    """One write handle on a PostgreSQL store."""

    def __init__(self, url: ServerURL, *, create: bool = True) -> None:
        self.url = url
        self.location = str(url)
        self._conn: Any = connect(url, "write" if create else "edit")
        self._waiting_since: float | None = None
        self._writing = threading.local()
        # A commit whose reply never came (the connection dropped during COMMIT): the run and,
        # per series, its counts before and after that batch. The writer sends the same data
        # again, first in its next batch; whichever counts the store holds tell whether it is
        # in already.
        self._unsure: tuple[str, dict[tuple[str, str], tuple[int, int]]] | None = None

    # -- the connection ----------------------------------------------------------------------------
    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.url, "write")
        return self._conn

    def _lost(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def _run(self, doing: str, work: Callable[[Any], _T]) -> _T:
        """``work(conn)`` in one transaction; psycopg's errors as the store's."""
        conn = self._connection()
        try:
            with conn.transaction():
                return work(conn)
        except psycopg.Error as exc:
            if is_connection_lost(exc) or conn.closed:
                self._lost()
            raise describe(exc, self.url, doing) from None

    # -- runs --------------------------------------------------------------------------------------
    def create_run(self, new: NewRun) -> RunStart:
        def work(conn: Any) -> RunStart:
            name = new.name
            if name is None:
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (new.project,))
                count = conn.execute("SELECT count(*) FROM runs WHERE project = %s",
                                     (new.project,)).fetchone()[0]
                name = readable_name(int(count) + 1)
            conn.execute(
                "INSERT INTO runs (id, project, name, group_name, status, config, tags, notes,"
                " host, pid, rank, local_rank, world_size, started, heartbeat)"
                f" VALUES (%s, %s, %s, %s, 'running', %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                f" {_SERVER_NOW})",
                (new.id, new.project, name, new.group, json.dumps(new.config),
                 json.dumps(new.tags), new.notes, new.host, new.pid, new.rank, new.local_rank,
                 new.world_size, new.started),
            )
            return RunStart(new.id, new.project, str(name), new.group, new.config, new.tags, 0,
                            new.notes, new.started)

        return self._run("cannot create a run in", work)

    def load_run(self, run_id: str) -> RunStart | None:
        def work(conn: Any) -> RunStart | None:
            row = conn.execute(
                "SELECT id, project, name, group_name, config, tags, notes, started FROM runs"
                " WHERE id = %s", (run_id,)).fetchone()
            if row is None:
                return None
            return RunStart(row[0], row[1], row[2], row[3], json.loads(row[4]),
                            json.loads(row[5]), 0, row[6], row[7])

        return self._run("cannot read a run of", work)

    def resume_run(self, run_id: str, *, config: dict[str, Any], tags: list[str],
                   notes: str | None, host: str, pid: int, now: float) -> RunStart | None:
        def work(conn: Any) -> RunStart | None:
            row = conn.execute(
                "SELECT id, project, name, group_name, config, tags, notes, started FROM runs"
                " WHERE id = %s FOR UPDATE", (run_id,)).fetchone()
            if row is None:
                return None
            merged = json.loads(row[4])
            merged.update(config)
            all_tags = json.loads(row[5])
            all_tags += [t for t in tags if t not in all_tags]
            last = conn.execute(
                "SELECT max(last_step) FROM series WHERE run_id = %s AND kind = 'scalar'",
                (run_id,)).fetchone()[0]
            conn.execute(
                f"UPDATE runs SET status = 'running', ended = NULL, heartbeat = {_SERVER_NOW},"
                " pid = %s, host = %s, config = %s, tags = %s, notes = coalesce(%s, notes)"
                " WHERE id = %s",
                (pid, host, json.dumps(merged), json.dumps(all_tags), notes, run_id),
            )
            return RunStart(row[0], row[1], row[2], row[3], merged, all_tags,
                            0 if last is None else int(last) + 1,
                            notes if notes is not None else row[6], row[7])

        return self._run("cannot resume a run in", work)

    def ensure_run(self, run: RunStart, *, host: str, pid: int, now: float) -> None:
        self._run("cannot write a run to", lambda conn: conn.execute(
            "INSERT INTO runs (id, project, name, group_name, status, config, tags, notes, host,"
            f" pid, started, heartbeat) VALUES (%s, %s, %s, %s, 'running', %s, %s, %s, %s, %s,"
            f" %s, {_SERVER_NOW}) ON CONFLICT (id) DO NOTHING",
            (run.id, run.project, run.name, run.group, json.dumps(run.config),
             json.dumps(run.tags), run.notes, host, pid, run.started or now)))

    # -- the run's data ----------------------------------------------------------------------------
    def write(self, run_id: str, batch: WriteBatch, *, patient: bool = True,
              final: FinalStatus | None = None, now: float | None) -> list[Dropped]:
        parts = list(_parts(batch))
        self._writing.active = True
        self._waiting_since = time.monotonic()
        try:
            try:
                return self._write(run_id, parts, patient, final, now, batch.expect,
                                   careful=False)
            except _DataFault:
                return self._write(run_id, parts, patient, final, now, batch.expect,
                                   careful=True)
        finally:
            self._waiting_since = None
            self._writing.active = False

    def _write(self, run_id: str, parts: list[_Part], patient: bool,
               final: FinalStatus | None, beat_now: float | None,
               expect: dict[tuple[str, str], int] | None, careful: bool) -> list[Dropped]:
        conn = self._connection()
        dropped: list[Dropped] = []
        written: list[_Part] = []
        held: dict[tuple[str, str], int] = {}
        committing = False
        try:
            with conn.transaction():
                if not patient:
                    conn.execute(f"SET LOCAL lock_timeout = '{BRIEF_LOCK_WAIT}'")
                beat = "heartbeat" if beat_now is None else _SERVER_NOW  # None: a spill file
                touched = conn.execute(f"UPDATE runs SET heartbeat = {beat} WHERE id = %s",
                                       (run_id,))
                if touched.rowcount == 0:
                    raise RunGoneError(f"run {run_id} is no longer in {self.url}")
                self._waiting_since = None
                if expect is not None:  # the run's row is locked (updated above) until commit
                    marks.check(QmarkCursor(conn), run_id, expect)
                held = _held(conn, run_id, parts, self._unsure)
                if self._unsure is not None and self._unsure[0] == run_id:
                    parts = _not_committed(parts, self._unsure[1], held)
                sids: dict[tuple[str, str], int] = {}
                if not careful:  # every key's points in one go; a data fault: again, part by part
                    scalars = [p for p in parts if p.kind == "scalar"]
                    if scalars:
                        _at_once(points.append_scalar_series, conn, run_id,
                                 [p.items for p in scalars])
                        written += scalars
                    for part in parts:
                        if part.kind != "scalar":
                            _at_once(part.write, conn, run_id, sids)
                            written.append(part)
                else:
                    for part in parts:
                        try:
                            with conn.transaction():  # a savepoint: only this part is lost
                                part.write(conn, run_id, sids)
                            written.append(part)
                        except (psycopg.Error, UnicodeEncodeError) as exc:
                            if not _is_data_fault(exc):
                                raise
                            sids.clear()
                            reason = f"{type(exc).__name__}: {str(exc)[:160]}"
                            dropped.append(Dropped(part.kind, part.key, part.count, reason))
                if final is not None and final.only_if_running:
                    conn.execute("UPDATE runs SET status = %s, ended = %s WHERE id = %s"
                                 " AND status = 'running'", (final.status, final.ended, run_id))
                elif final is not None:
                    conn.execute(
                        f"UPDATE runs SET status = %s, ended = %s, heartbeat = {_SERVER_NOW}"
                        " WHERE id = %s", (final.status, final.ended, run_id))
                committing = True  # leaving the block sends COMMIT
        except _DataFault:
            raise
        except psycopg.Error as exc:
            if committing and (is_connection_lost(exc) or conn.closed):
                self._unsure = (run_id, _counts_after(written, held))
            if is_connection_lost(exc) or conn.closed:
                self._lost()
            raise describe(exc, self.url, "cannot write to") from None
        except OSError as exc:
            self._lost()
            raise StorageFault(f"cannot write to {self.url}: {exc}") from None
        self._unsure = None
        return dropped

    def waiting_for_lock_since(self) -> float | None:
        return self._waiting_since

    def in_write(self) -> bool:
        return bool(getattr(self._writing, "active", False))

    def reopen_if_moved(self, run: RunStart | None = None, *, host: str = "", pid: int = 0,
                        now: float = 0.0) -> Literal["replaced", "deleted", "reopened"] | None:
        return None  # a database is not a file that can be replaced under a writer

    # -- edits -------------------------------------------------------------------------------------
    def _edit(self, sql: str, args: tuple[Any, ...]) -> None:
        self._run("cannot edit a run in", lambda conn: conn.execute(sql, args))

    def rename_run(self, run_id: str, name: str) -> None:
        self._edit("UPDATE runs SET name = %s WHERE id = %s", (name, run_id))

    def set_tags(self, run_id: str, tags: list[str]) -> None:
        self._edit("UPDATE runs SET tags = %s WHERE id = %s", (json.dumps(list(tags)), run_id))

    def set_notes(self, run_id: str, notes: str | None) -> None:
        self._edit("UPDATE runs SET notes = %s WHERE id = %s", (notes, run_id))

    def set_run_times(self, run_id: str, started: float | None, ended: float | None) -> None:
        self._edit(
            "UPDATE runs SET started = coalesce(%s, started), ended = coalesce(%s, ended),"
            " heartbeat = GREATEST(heartbeat, coalesce(%s, heartbeat)) WHERE id = %s",
            (started, ended, ended, run_id))

    def set_run_host(self, run_id: str, host: str | None) -> None:
        self._edit("UPDATE runs SET host = %s, pid = NULL WHERE id = %s", (host, run_id))

    def delete_runs(self, run_ids: Iterable[str]) -> int:
        ids = list(run_ids)
        return int(self._run("cannot delete runs in", lambda conn: conn.execute(
            "DELETE FROM runs WHERE id = ANY(%s)", (ids,)).rowcount))

    # -- the handle --------------------------------------------------------------------------------
    def close(self, *, healthy: bool = True) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with translated(self.url):
                conn.close()

    def abandon(self) -> None:
        if self._conn is not None:
            _abandoned.append(self._conn)  # freeing it would end the parent's session
        self._conn = None


class _DataFault(Exception):
    """A part of the batch the store refused for what it holds: write again part by part."""


def _is_data_fault(exc: BaseException) -> bool:
    """A fault of the data (text the server cannot hold or the driver cannot encode, such as a
    lone surrogate; a value out of range), not the store."""
    return isinstance(exc, (psycopg.DataError, psycopg.IntegrityError, UnicodeEncodeError))


def _at_once(write: Callable[..., Any], *args: Any) -> None:
    """One part of a batch written with the rest; a data fault sends the whole batch again, part
    by part (each in a savepoint)."""
    try:
        write(*args)
    except (psycopg.Error, UnicodeEncodeError) as exc:
        if _is_data_fault(exc):
            raise _DataFault from exc
        raise


@dataclass
class _Part:
    """One unit that is written or dropped whole: a key's points, or one kind's records of a key."""

    kind: str
    key: str | None
    items: Any
    count: int

    def write(self, conn: Any, run_id: str, sids: dict[tuple[str, str], int]) -> None:
        kind, items = self.kind, self.items
        if kind == "scalar":
            points.append_scalar_series(conn, run_id, [items])
        elif kind == "histogram":
            points.append_histograms(conn, self._sid(conn, run_id, sids),
                                     [(i.step, i.wall, i.histogram) for i in items])
        elif kind == "text":
            points.append_texts(conn, self._sid(conn, run_id, sids),
                                [(i.step, i.wall, i.text) for i in items])
        elif kind == "image":
            points.append_images(conn, self._sid(conn, run_id, sids), items)
        elif kind == "console":
            append_lines(conn, run_id, items)
        elif kind == "graph":
            write_graph(conn, run_id, items)
        elif kind == "profile":
            write_profile(conn, run_id, items)
        elif kind == "summary":
            row = conn.execute("SELECT summary FROM runs WHERE id = %s", (run_id,)).fetchone()
            merged = merge_patch(json.loads(row[0]), items.values)
            conn.execute("UPDATE runs SET summary = %s WHERE id = %s",
                         (json.dumps(merged), run_id))
        elif kind == "config":
            conn.execute("UPDATE runs SET config = %s WHERE id = %s",
                         (json.dumps(items.config), run_id))
        else:
            raise ValueError(f"unknown record kind {kind!r}")

    def _sid(self, conn: Any, run_id: str, sids: dict[tuple[str, str], int]) -> int:
        assert self.key is not None
        sid = sids.get((self.kind, self.key))
        if sid is None:
            sid = sids[(self.kind, self.key)] = points.series_id(conn, run_id, self.kind, self.key)
        return sid


_KINDS: dict[type, str] = {HistogramItem: "histogram", TextItem: "text", ImageItem: "image",
                           ConsoleLines: "console"}


def _parts(batch: WriteBatch) -> Iterator[_Part]:
    """The batch in parts, records in the order given (runs of one kind and key together)."""
    for p in batch.points:
        if len(p):
            yield _Part("scalar", p.key, p, len(p))
    group: list[Any] = []
    group_id: tuple[str, str | None] | None = None
    for record in batch.records:
        kind = _KINDS.get(type(record))
        ident = None if kind is None else (kind, getattr(record, "key", None))
        if group and ident != group_id:
            yield from _group_part(group_id, group)  # type: ignore[arg-type]
            group = []
        if ident is not None:
            group.append(record)
            group_id = ident
            continue
        if isinstance(record, SummaryPatch):
            yield _Part("summary", None, record, 1)
        elif isinstance(record, ConfigSet):
            yield _Part("config", None, record, 1)
        elif isinstance(record, Graph):
            yield _Part("graph", record.name, record, 1)
        elif isinstance(record, Profile):
            yield _Part("profile", record.name, record, 1)
        else:
            raise TypeError(f"not a record a store can write: {type(record).__name__}")
    if group:
        yield from _group_part(group_id, group)  # type: ignore[arg-type]


def _group_part(ident: tuple[str, str | None], group: list[Any]) -> Iterator[_Part]:
    """Consecutive records of one kind and key as one part; consecutive console calls' lines as
    one part of lines (the store numbers them in this order)."""
    kind, key = ident
    if kind == "console":
        lines = [line for record in group for line in record.lines]
        if lines:
            yield _Part("console", None, lines, len(lines))
        return
    yield _Part(kind, key, group, len(group))


def _mark(part: _Part) -> tuple[str, str] | None:
    """What a part is counted under (None: written again harmlessly: summary and config as
    values)."""
    if part.kind in ("scalar", "histogram", "text", "image"):
        return (part.kind, str(part.key))
    if part.kind in ("console", "graph", "profile"):
        return (part.kind, "")
    return None


def _held(conn: Any, run_id: str, parts: list[_Part],
          unsure: tuple[str, dict[tuple[str, str], tuple[int, int]]] | None
          ) -> dict[tuple[str, str], int]:
    """The run's counts of what ``parts`` (and an unsure commit) touch, in this transaction."""
    wanted = {m for m in map(_mark, parts) if m is not None}
    if unsure is not None and unsure[0] == run_id:
        wanted |= set(unsure[1])
    if not wanted:
        return {}
    held = {(k, key): int(n) for k, key, n in conn.execute(
        "SELECT kind, key, count FROM series WHERE run_id = %s", (run_id,))}
    for kind, table in (("console", "console_lines"), ("graph", "graphs"),
                        ("profile", "profiles")):
        if (kind, "") in wanted:
            held[(kind, "")] = int(conn.execute(
                f"SELECT count(*) FROM {table} WHERE run_id = %s", (run_id,)).fetchone()[0])
    return held


def _counts_after(written: list[_Part], held: dict[tuple[str, str], int]
                  ) -> dict[tuple[str, str], tuple[int, int]]:
    """Per series, the counts before and after the parts written in a transaction."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for part in written:
        mark = _mark(part)
        if mark is not None:
            before, after = out.get(mark, (held.get(mark, 0), held.get(mark, 0)))
            out[mark] = (before, after + part.count)
    return out


def _not_committed(parts: list[_Part], unsure: dict[tuple[str, str], tuple[int, int]],
                   held: dict[tuple[str, str], int]) -> list[_Part]:
    """``parts`` less what an unsure commit did store: per series whose count is the one that
    commit would leave, its first (after - before) items, which the writer sent again."""
    skip = {mark: after - before for mark, (before, after) in unsure.items()
            if held.get(mark, 0) == after and after > before}
    if not skip:
        return parts
    out: list[_Part] = []
    for part in parts:
        mark = _mark(part)
        n = skip.get(mark, 0) if mark is not None else 0
        if n <= 0:
            out.append(part)
            continue
        take = min(n, part.count)
        skip[mark] = n - take  # type: ignore[index]
        if take == part.count:
            continue
        if part.kind == "scalar":
            p = part.items
            rest = SeriesPoints(p.key, p.steps[take:], p.walls[take:], p.values[take:])
            out.append(_Part("scalar", part.key, rest, len(rest)))
        else:
            out.append(_Part(part.kind, part.key, part.items[take:], part.count - take))
    return out
