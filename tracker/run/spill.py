"""Spill files: what a run could not write to its store, kept next to it until a writer can.

``<store>.spill/<run>-<time_ns>-<pid>-<seq>.npz`` holds numpy arrays of the points (key ids,
steps, walls, values) and one JSON document with the key names, the other records (texts,
histograms, images, graphs, profiles, summary and config updates) and, when the run ended while
its store could not be written, the status it ended with. No pickle: a spill file is data, loaded with
``allow_pickle=False``, and one that does not parse is left alone with a one-line message.

A file is written under a temporary name and renamed, so a reader never sees half of one. The run
that spilled writes its own files back first thing once its store can be written again; the next
writer that opens the store (``tracker.init``, ``tracker.attach``) writes in whatever is left
(``recover``). Either claims a file by renaming it before writing it, so two processes never write
one twice.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError
from ..graph import Graph, GraphNode
from ..notices import warn
from ..profile import Profile, ProfileOp
from ..records import EncodedImage, Histogram
from ..store.backend import (
    ConfigSet,
    ConsoleLines,
    Dropped,
    FinalStatus,
    HistogramItem,
    ImageItem,
    Record,
    RunGoneError,
    SummaryPatch,
    TextItem,
    WriteBackend,
    WriteBatch,
    record_kind,
)
from ..urls import ServerURL
from .buffer import ScalarBatch, series_points

_seq = itertools.count(1)
_VERSION = 1


def folder(db_path: Path) -> Path:
    """The folder of a store's spill files (of a server store: a folder on this host)."""
    if isinstance(db_path, ServerURL):
        return db_path.local_folder(".spill")
    return db_path.with_name(db_path.name + ".spill")


def pending(db_path: Path) -> list[Path]:
    """A store's spill files not yet written back, oldest first."""
    where = folder(db_path)
    try:
        return sorted(where.glob("*.npz"))
    except OSError:
        return []


@dataclass
class Spilled:
    """The content of one spill file."""

    run_id: str
    key_names: list[str]
    scalars: ScalarBatch | None
    records: list[Record] = field(default_factory=list)
    status: str | None = None  # the run ended with this status while its store was unwritable
    ended: float | None = None


def write(db_path: Path, data: Spilled) -> Path:
    """Write a spill file next to the store; return its path.

    Raises:
        OSError: it cannot be written (the disk is full too, the folder is read-only...);
            nothing is left behind.
    """
    where = folder(db_path)
    where.mkdir(parents=isinstance(db_path, ServerURL), exist_ok=True)
    path = where / f"{data.run_id}-{time.time_ns():019d}-{os.getpid()}-{next(_seq):06d}.npz"
    tmp = path.with_name(path.name + ".tmp")
    doc = {
        "version": _VERSION, "run_id": data.run_id, "key_names": data.key_names,
        "records": [_encode(record) for record in data.records],
        "status": data.status, "ended": data.ended,
    }
    s = data.scalars
    empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
    try:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                doc=np.frombuffer(json.dumps(doc).encode("utf-8"), dtype=np.uint8),
                key_ids=s.key_ids.astype(np.int32) if s is not None else empty_i.astype(np.int32),
                steps=s.steps if s is not None else empty_i,
                walls=s.walls if s is not None else empty_f,
                values=s.values if s is not None else empty_f,
            )
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return path


def claim(path: Path) -> Path | None:
    """Take a spill file for writing back (None when another process took it first)."""
    claimed = path.with_name(f"{path.name}.claimed-{os.getpid()}")
    try:
        os.rename(path, claimed)
    except OSError:
        return None
    return claimed


def unclaim(claimed: Path) -> None:
    """Give a claimed file back (it could not be written now)."""
    try:
        os.rename(claimed, claimed.with_name(claimed.name.rsplit(".claimed-", 1)[0]))
    except OSError:
        pass


def done(claimed: Path) -> None:
    """Remove a claimed file whose content is in the store now."""
    _remove(claimed)
    try:
        claimed.parent.rmdir()  # only when it was the last one
    except OSError:
        pass


def load(path: Path) -> Spilled:
    """Read a spill file.

    Raises:
        ValueError: it is not a spill file of this version, or it is damaged.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            doc = json.loads(npz["doc"].tobytes().decode("utf-8"))
            arrays = {k: npz[k] for k in ("key_ids", "steps", "walls", "values")}
        if doc.get("version") != _VERSION:
            raise ValueError(f"version {doc.get('version')!r}")
        key_names = [str(k) for k in doc["key_names"]]
        n = len(arrays["values"])
        if any(len(a) != n for a in arrays.values()) or (
            n and not 0 <= int(arrays["key_ids"].min()) <= int(arrays["key_ids"].max())
            < len(key_names)):
            raise ValueError("columns out of step")
        scalars = ScalarBatch(arrays["key_ids"].astype(np.int32), arrays["steps"].astype(np.int64),
                              arrays["walls"].astype(np.float64),
                              arrays["values"].astype(np.float64)) if n else None
        records = [_decode(r) for r in doc["records"]]
        status = doc.get("status")
        return Spilled(str(doc["run_id"]), key_names, scalars, records,
                       None if status is None else str(status), doc.get("ended"))
    except ValueError:
        raise
    except Exception as exc:  # a damaged file: any of zip, numpy, JSON or a field may fail
        raise ValueError(f"{type(exc).__name__}: {exc}") from None


def write_back(backend: WriteBackend, data: Spilled, *, patient: bool = True,
               now: float | None = None) -> list[Dropped]:
    """Write a spill file's content (and the run's final status, over 'running' only) in one
    transaction of the backend; return what the store refused.

    Raises:
        RunGoneError: the run is not in the store.
        StoreError: the store cannot be written now.
    """
    final = None
    if data.status is not None:
        final = FinalStatus(data.status, data.ended if data.ended is not None else time.time(),
                            only_if_running=True)
    batch = WriteBatch(series_points(data.scalars, data.key_names), data.records)
    return backend.write(data.run_id, batch, patient=patient, final=final, now=now)


def recover(backend: WriteBackend, db_path: Path) -> tuple[int, int]:
    """Write back every spill file of the store (what earlier runs could not write), saying so;
    return how many points and other records were written.

    A file whose run is not in the store, or that cannot be read, is left as it is (and said);
    a storage fault stops the recovery (the files stay for the next writer).
    """
    points, records = 0, 0
    runs: set[str] = set()
    left: list[tuple[Path, Exception]] = []
    stopped: set[str] = set()  # runs whose earlier file could not be written: keep their order
    for path in pending(db_path):
        run_id = path.name.split("-", 1)[0]
        if run_id in stopped:
            continue
        claimed = claim(path)
        if claimed is None:
            continue
        try:
            data = load(claimed)
            dropped = write_back(backend, data)
        except (ValueError, StoreError, OSError) as exc:
            unclaim(claimed)
            stopped.add(run_id)
            left.append((path, exc))
            if not isinstance(exc, (ValueError, RunGoneError)):
                break  # the store itself cannot be written now
            continue
        done(claimed)
        runs.add(data.run_id)
        points += len(data.scalars) if data.scalars is not None else 0
        records += len(data.records) - sum(d.count for d in dropped if d.kind != "scalar")
        for d in dropped:
            _say(f"{d} from {path.name} could not be stored and were dropped ({d.reason})")
    if runs:
        _say(f"wrote {points:,} points and {records:,} other records of run "
             f"{', '.join(sorted(runs))} from {folder(db_path)} into the store (what could not "
             "be written when they were logged)")
    for path, error in left:
        why = ("its run is not in this store" if isinstance(error, RunGoneError)
               else f"{type(error).__name__}: {error}")
        _say(f"spill file {path} was not written into the store ({why}); it is left as it is")
    return points, records


def _say(message: str) -> None:
    warn(message)


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# -- records as JSON (the same documents since version 1) ----------------------------------------
def _encode(record: Record) -> dict[str, Any]:
    kind = record_kind(record)
    if isinstance(record, (HistogramItem, TextItem, ImageItem)):
        value = (record.histogram if isinstance(record, HistogramItem)
                 else record.image if isinstance(record, ImageItem) else record.text)
        return {"kind": kind, "key": record.key, "step": int(record.step),
                "wall": float(record.wall), "obj": _plain(value)}
    if isinstance(record, ConsoleLines):
        return {"kind": kind, "obj": [list(line) for line in record.lines]}
    if isinstance(record, SummaryPatch):
        return {"kind": kind, "obj": json.dumps(record.values)}
    if isinstance(record, ConfigSet):
        return {"kind": kind, "obj": json.dumps(record.config)}
    return {"kind": kind, "obj": _plain(record)}  # graph, profile


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _bytes(value: Any) -> Any:
    return base64.b64decode(value["base64"]) if isinstance(value, dict) else value


def _decode(doc: dict[str, Any]) -> Record:
    kind, obj = doc["kind"], doc["obj"]
    if kind == "histogram":
        hist = Histogram(**{**obj, "edges": np.asarray(obj["edges"], dtype=np.float64),
                            "counts": np.asarray(obj["counts"], dtype=np.float64)})
        return HistogramItem(str(doc["key"]), int(doc["step"]), float(doc["wall"]), hist)
    if kind == "text":
        return TextItem(str(doc["key"]), int(doc["step"]), float(doc["wall"]), str(obj))
    if kind == "graph":
        return Graph(**{**obj, "nodes": [GraphNode(**n) for n in obj["nodes"]],
                        "edges": [tuple(e) for e in obj["edges"]], "raw": _bytes(obj["raw"])})
    if kind == "profile":
        return Profile(**{**obj, "ops": [ProfileOp(**o) for o in obj["ops"]],
                          "step_times_ns": [tuple(s) for s in obj["step_times_ns"]],
                          "trace": _bytes(obj["trace"])})
    if kind == "image":
        image = EncodedImage(**{**obj, "data": _bytes(obj["data"])})
        return ImageItem(str(doc["key"]), int(doc["step"]), float(doc["wall"]), image)
    if kind == "console":
        return ConsoleLines([(str(s), float(w), None if t is None else int(t), str(x))
                             for s, w, t, x in obj])
    if kind == "summary":
        return SummaryPatch(json.loads(obj))
    if kind == "config":
        return ConfigSet(json.loads(obj))
    raise ValueError(f"unknown record kind {kind!r}")


def sizes(records: Iterable[Record]) -> int:
    """About how many bytes records hold in memory (for the writer's bound)."""
    total = 0
    for record in records:
        total += 200
        if isinstance(record, TextItem):
            total += len(record.text)
        elif isinstance(record, HistogramItem):
            hist = record.histogram
            total += 8 * (len(hist.edges) + len(hist.counts))
        elif isinstance(record, Graph):
            total += 300 * len(record.nodes) + 16 * len(record.edges) + len(record.raw or "")
        elif isinstance(record, Profile):
            total += 300 * len(record.ops) + len(record.trace or b"")
        elif isinstance(record, ImageItem):
            total += len(record.image.data)
        elif isinstance(record, ConsoleLines):
            total += sum(60 + len(line[3]) for line in record.lines)
        elif isinstance(record, SummaryPatch):
            total += len(json.dumps(record.values))
        elif isinstance(record, ConfigSet):
            total += len(json.dumps(record.config))
    return total
