"""``tracker sync``: copy runs from one store to another (SQLite or PostgreSQL, either way), only
what the destination lacks.

Built on the backend interface alone: the source is read through a read handle (it is never
written), the destination written through a write handle. Where a copy goes on from is the
destination's own counts (``ReadBackend.counts``: points per series, records per key, console
lines, graphs, profiles), and every batch carries the counts it was computed against
(``WriteBatch.expect``), checked in its transaction: a sync killed at any point and run again,
or two syncs into one destination at once, never store anything twice. Run ids are kept.

A source that is a store's spill folder (what runs on this host could not write to it before
they finished) is written into that store (``tracker sync FOLDER URL``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .errors import TrackerError
from .literal import shown
from .paths import resolve_db_path
from .run import spill
from .store import open_backend
from .store.backend import (
    ConfigSet,
    ConflictError,
    ConsoleLines,
    FinalStatus,
    HistogramItem,
    ImageItem,
    NewRun,
    ReadBackend,
    Record,
    RunFilter,
    RunRow,
    SeriesPoints,
    StoreError,
    SummaryPatch,
    TextItem,
    WriteBackend,
    WriteBatch,
)
from .urls import display

BATCH_POINTS = 1_000_000  # points (or records) a write transaction carries at most
BATCH_BYTES = 64 << 20  # encoded images, traces, texts a transaction carries at most
IMAGES_PER_READ = 64  # images read from the source at once (each may be megabytes)
LINES_PER_READ = 10_000  # console lines read from the source at once
# Another sync into the same destination wrote first: read its counts again and go on. Each
# conflict means the other one committed part of what is missing, so this ends; the bound only
# guards against a destination that changes under the sync for other reasons.
CONFLICT_TRIES = 10_000
_FINAL = ("finished", "failed", "killed")


class SyncError(TrackerError):
    """A sync that cannot go on (one line: what and what to do)."""


@dataclass
class SyncResult:
    """What one sync copied."""

    runs: int = 0  # runs looked at
    created: int = 0  # runs new in the destination
    points: int = 0
    records: int = 0  # histograms, texts, images, console lines, graphs, profiles
    skipped: list[str] = field(default_factory=list)  # runs left out, one line each

    def __str__(self) -> str:
        text = (f"{self.runs:,} run{'s' if self.runs != 1 else ''} ({self.created:,} new): "
                f"{self.points:,} points, {self.records:,} records copied")
        return text


def parse_since(text: str) -> float:
    """A date or date-time (ISO 8601, local time unless it says) as unix seconds.

    Raises:
        SyncError: not such a date.
    """
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise SyncError(f"--since {text!r} is not a date: give YYYY-MM-DD or "
                        "YYYY-MM-DDTHH:MM") from None


def sync(src: str | os.PathLike[str], dest: str | os.PathLike[str], *,
         project: str | None = None, run_ids: Sequence[str] = (), since: float | None = None,
         progress: Callable[[str], None] | None = None) -> SyncResult:
    """Copy the runs of ``src`` (those of ``project``, of ``run_ids``, active since ``since``)
    into ``dest``, only what it lacks. ``progress`` gets a short line now and then.

    Raises:
        StoreError: a store cannot be opened, read or written (one line).
        SyncError: the two locations are one store.
    """
    src_loc, dest_loc = resolve_db_path(src), resolve_db_path(dest)
    if _same(src_loc, dest_loc):
        raise SyncError(f"{display(src_loc)} and {display(dest_loc)} are the same store: "
                        "give two different ones")
    if isinstance(src_loc, Path) and (src_loc.is_dir() or _same(src_loc, spill.folder(dest_loc))):
        return _push_spilled(src_loc, dest_loc)  # (gone: all of it was pushed before)
    if not src_loc.exists():
        raise SyncError(f"no store at {display(src_loc)}: check the path or URL")
    result = SyncResult()
    source = open_backend(src_loc, mode="read")
    try:
        rows = _chosen(source, project, run_ids, since)
        if not rows:
            return result
        writer = open_backend(dest_loc, mode="write")  # creates (or migrates) the destination
        try:
            marks = open_backend(dest_loc, mode="read")
            try:
                there = {str(r.id): r for r in marks.runs(RunFilter(project=project))}
                for i, row in enumerate(rows):
                    if progress is not None:
                        progress(f"run {i + 1}/{len(rows)} {row.id}: {result.points:,} points, "
                                 f"{result.records:,} records")
                    copied = there.get(str(row.id))
                    if not _up_to_date(row, copied, source, marks):
                        _RunCopy(source, writer, marks, row, copied, result, progress).copy()
                    result.runs += 1
            finally:
                marks.close()
        finally:
            writer.close()
    finally:
        source.close()
    return result


def _push_spilled(folder: Path, dest: Any) -> SyncResult:
    """Write the spill files waiting for ``dest`` on this host (what runs could not write to it
    before they finished) into it."""
    if not _same(folder, spill.folder(dest)):
        raise SyncError(f"{folder} is a folder: give a store (a file or a postgresql:// URL), or "
                        f"the spill folder of {display(dest)} ({spill.folder(dest)})")
    writer = open_backend(dest, mode="write")
    try:
        points, records = spill.recover(writer, dest)
    finally:
        writer.close()
    return SyncResult(points=points, records=records)


def _same(a: Any, b: Any) -> bool:
    if a.__class__ is not b.__class__:
        return False
    if hasattr(a, "resolve"):
        return bool(a.resolve() == b.resolve())
    return bool(os.fspath(a) == os.fspath(b))


def _chosen(source: ReadBackend, project: str | None, run_ids: Sequence[str],
            since: float | None) -> list[RunRow]:
    """The source's runs to copy, oldest first (so a destination numbers them as the source did)."""
    rows = source.runs(RunFilter(project=project, ids=tuple(run_ids) if run_ids else None))
    if run_ids:
        found = {r.id for r in rows}
        missing = [r for r in run_ids if r not in found]
        if missing:
            raise SyncError(f"no run {missing[0]!r} in the source"
                            + ("" if project is None else f" (project {project!r})")
                            + ": give full run ids (tracker ls)")
    if since is not None:
        rows = [r for r in rows if _last_active(r) >= since]
    return sorted(rows, key=lambda r: (_number(r.started) or 0.0, str(r.id)))


def _up_to_date(row: RunRow, there: RunRow | None, source: ReadBackend,
                marks: ReadBackend) -> bool:
    """Whether the destination's copy of a run holds all the source does (its fields as
    ``_RunCopy`` would leave them, and as many of every kind of item): a sync run again after
    one that finished opens no transaction for it."""
    if there is None or _fields(row) != _fields(there):
        return False
    if row.status in _FINAL and _number(row.ended) != _number(there.ended):
        return False
    return source.counts(str(row.id)) == marks.counts(str(row.id))


def _fields(row: RunRow) -> tuple[Any, ...]:
    notes = row.notes if isinstance(row.notes, str) else None
    return (str(row.name), str(row.status), _json(row.config, {}), _json(row.tags, []), notes,
            _json(row.summary, {}))


def _last_active(row: RunRow) -> float:
    return max(_number(row.started) or 0.0, _number(row.ended) or 0.0,
               _number(row.heartbeat) or 0.0)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _json(value: Any, default: Any) -> Any:
    try:
        parsed = json.loads(value) if isinstance(value, str) else default
    except ValueError:
        return default
    return parsed if isinstance(parsed, type(default)) else default


class _RunCopy:
    """The copy of one run: its row, then what the destination lacks, batch by batch."""

    def __init__(self, source: ReadBackend, writer: WriteBackend, marks: ReadBackend,
                 row: RunRow, copied: RunRow | None, result: SyncResult,
                 progress: Callable[[str], None] | None) -> None:
        self.source, self.writer, self.marks = source, writer, marks
        self.row, self.result, self.progress = row, result, progress
        self.copied = copied  # the destination's row before this sync (None: not there yet)
        self.run_id = str(row.id)

    def copy(self) -> None:
        self._ensure_row()
        for _ in range(CONFLICT_TRIES):
            try:
                self._copy_data()
                break
            except ConflictError:
                continue  # another sync wrote part of it first: count again
        else:
            raise SyncError(f"run {self.run_id}: other syncs kept writing it; run sync again")
        self._copy_fields()

    def _ensure_row(self) -> None:
        row = self.row
        if self.writer.load_run(self.run_id) is not None:
            return
        new = NewRun(
            id=self.run_id, project=str(row.project), name=str(row.name),
            group=row.group if isinstance(row.group, str) else None,
            config=_json(row.config, {}), tags=_json(row.tags, []),
            notes=row.notes if isinstance(row.notes, str) else None,
            host=str(row.host or ""), pid=row.pid if isinstance(row.pid, int) else 0,
            rank=row.rank if isinstance(row.rank, int) else None, local_rank=None,
            world_size=row.world_size if isinstance(row.world_size, int) else None,
            started=_number(row.started) or 0.0,
        )
        try:
            self.writer.create_run(new)
            self.result.created += 1
        except StoreError:
            if self.writer.load_run(self.run_id) is None:  # not another sync creating it too
                raise

    def _copy_data(self) -> None:
        have = self.marks.counts(self.run_id)
        batch = _Batch(dict(have))
        for record_or_points in self._missing(self.source.counts(self.run_id), have):
            batch.add(record_or_points)
            if batch.full():
                self._write(batch)
                batch = _Batch(batch.after)
        if batch.parts:
            self._write(batch)

    def _write(self, batch: _Batch) -> None:
        self.writer.write(self.run_id, batch.build(), now=None)
        self.result.points += batch.points
        self.result.records += batch.records
        if self.progress is not None:
            self.progress(f"{self.run_id}: {self.result.points:,} points, "
                          f"{self.result.records:,} records")

    def _missing(self, src: dict[tuple[str, str], int],
                 have: dict[tuple[str, str], int]) -> Iterator[tuple[tuple[str, str], Any]]:
        """What the source holds past the destination's counts, mark by mark, in order."""
        s, run = self.source, self.run_id
        for (kind, key), n in sorted(src.items()):
            done = have.get((kind, key), 0)
            if n <= done:
                continue
            mark = (kind, key)
            if kind == "scalar":
                series = s.points_after(run, key, done)
                for a in range(0, len(series.values), BATCH_POINTS):
                    b = a + BATCH_POINTS
                    yield mark, SeriesPoints(key, np.asarray(series.steps[a:b], dtype=np.int64),
                                             np.asarray(series.walls[a:b], dtype=np.float64),
                                             np.asarray(series.values[a:b], dtype=np.float64))
            elif kind == "histogram":
                for h in s.histograms_after(run, key, done):
                    yield mark, HistogramItem(key, h.step, h.wall, h.histogram)
            elif kind == "text":
                for t in s.texts_after(run, key, done):
                    yield mark, TextItem(key, t.step, t.wall, t.text)
            elif kind == "image":  # all of them, several at one step included, in order
                while page := s.images_after(run, key, done, IMAGES_PER_READ):
                    done += len(page)
                    for m in page:
                        yield mark, ImageItem(key, m.step, m.wall, m.image)
            elif kind == "console":
                yield from self._missing_lines(mark, done)
            elif kind == "graph":
                for g in s.graphs(run)[done:]:
                    yield mark, s.graph(g.id)
            elif kind == "profile":
                for p in s.profiles(run)[done:]:
                    yield mark, s.profile(p.id)

    def _missing_lines(self, mark: tuple[str, str],
                       done: int) -> Iterator[tuple[tuple[str, str], ConsoleLines]]:
        """The source's console lines after its first ``done`` (the destination holds that many
        and numbers what comes on its own), a page at a time."""
        after: int | None = None
        skip = done
        while page := self.source.console_lines(self.run_id, after_seq=after,
                                                limit=LINES_PER_READ):
            after = page[-1].seq
            lines = [(x.stream, x.wall, x.step, x.text) for x in page[skip:]]
            skip = max(0, skip - len(page))
            if lines:
                yield mark, ConsoleLines(lines)

    def _copy_fields(self) -> None:
        """Name, tags, notes, config, summary and the final status, as the source has them."""
        row = self.row
        batch = WriteBatch(records=[ConfigSet(_json(row.config, {})),
                                    SummaryPatch(_json(row.summary, {}))])
        final = None
        if row.status in _FINAL:
            final = FinalStatus(str(row.status), _number(row.ended) or _last_active(row))
        self.writer.write(self.run_id, batch, final=final, now=None)
        if self.copied is None:
            return  # created by this sync (or another one) with the source's name, tags, notes
        if str(self.copied.name) != str(row.name):
            self.writer.rename_run(self.run_id, str(row.name))
        if _json(self.copied.tags, []) != _json(row.tags, []):
            self.writer.set_tags(self.run_id, _json(row.tags, []))
        notes = row.notes if isinstance(row.notes, str) else None
        if self.copied.notes != notes:
            self.writer.set_notes(self.run_id, notes)


class _Batch:
    """Points and records for one write, with the counts they go on from (its ``expect``)."""

    def __init__(self, after: dict[tuple[str, str], int]) -> None:
        self.before = dict(after)  # the destination's counts this batch was computed against
        self.after = after  # ... and once it is written
        self.parts: list[tuple[tuple[str, str], Any]] = []
        self.points = self.records = self.bytes = 0

    def add(self, part: tuple[tuple[str, str], Any]) -> None:
        mark, item = part
        self.parts.append(part)
        if isinstance(item, SeriesPoints):
            n = len(item)
            self.points += n
        else:
            n = len(item.lines) if isinstance(item, ConsoleLines) else 1
            self.records += n
            self.bytes += _size(item)
        self.after[mark] = self.after.get(mark, 0) + n

    def full(self) -> bool:
        return self.points + self.records >= BATCH_POINTS or self.bytes >= BATCH_BYTES

    def build(self) -> WriteBatch:
        touched = {mark for mark, _ in self.parts}
        points = [item for _, item in self.parts if isinstance(item, SeriesPoints)]
        records: list[Record] = [item for _, item in self.parts
                                 if not isinstance(item, SeriesPoints)]
        return WriteBatch(points=_joined(points), records=records,
                          expect={m: self.before.get(m, 0) for m in touched})


def _joined(parts: list[SeriesPoints]) -> list[SeriesPoints]:
    """One SeriesPoints per key (a store appends a key once per batch)."""
    by_key: dict[str, list[SeriesPoints]] = {}
    for p in parts:
        by_key.setdefault(p.key, []).append(p)
    return [ps[0] if len(ps) == 1 else SeriesPoints(
        key, np.concatenate([p.steps for p in ps]), np.concatenate([p.walls for p in ps]),
        np.concatenate([p.values for p in ps])) for key, ps in by_key.items()]


def _size(item: Any) -> int:
    if isinstance(item, ImageItem):
        return len(item.image.data)
    if isinstance(item, TextItem):
        return len(item.text)
    if isinstance(item, ConsoleLines):
        return sum(len(text) for _, _, _, text in item.lines)
    trace = getattr(item, "trace", None) or getattr(item, "raw", None)
    return len(trace) if trace else 0


class TerminalProgress:
    """A one-line progress display on a terminal (stderr), redrawn at most 10 times a second;
    nothing at all when stderr is not a terminal (piped, a log file)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.active = bool(getattr(self.stream, "isatty", lambda: False)())
        self._shown = 0.0
        self._width = 0

    def __call__(self, line: str) -> None:
        now = time.monotonic()
        if not self.active or now - self._shown < 0.1:
            return
        self._shown = now
        text = shown(f"sync: {line}")[:120]  # run ids from another store are data
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def done(self) -> None:
        if self.active and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
