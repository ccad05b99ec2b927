"""Run: one training run's logging API (config, log, histograms, text, graphs, profiles, finish)."""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ..errors import StoreError
from ..graph import Graph
from ..images import prepare
from ..notices import warn
from ..paths import resolve_db_path
from ..profile import Profile
from ..records import Histogram
from ..refs import check_run_ref
from ..store import open_backend
from ..store.backend import (
    ConfigSet,
    ConsoleLines,
    HistogramItem,
    Record,
    RunStart,
    SummaryPatch,
    TextItem,
    WriteBackend,
)
from ..urls import ServerURL, without_password
from . import lifecycle, spill, spool, start
from .buffer import Entry, ScalarBuffer, check_gil
from .config import to_config
from .image_writes import ImagePending
from .values import (
    CPU_READ_TYPES,
    DEFERRED_TYPES,
    INT64_MAX,
    INT64_MIN,
    Deferred,
    check_key,
    check_step,
    check_utf8,
    flatten_nested,
    read_cpu_scalar,
    to_numpy,
    to_scalar,
)
from .writer import FINISH_WAIT_S, Outcome, Writer

_now = time.time
IMAGES_WAKE_AT = 16  # records waiting at which log_image wakes the writer...
IMAGES_WAIT_AT = 64  # ...and waits for it (64 images of 512x512 RGB: 50 MB)


class Run:
    """A run being logged. Create it with ``tracker.init()``; use it as a context manager."""

    def __init__(
        self,
        *,
        project: str = "default",
        name: str | None = None,
        config: Any = None,
        tags: list[str] | tuple[str, ...] | None = None,
        group: str | None = None,
        notes: str | None = None,
        db: str | os.PathLike[str] | None = None,
        resume: str | None = None,
        attach: str | None = None,
        strict: bool = False,
        flush_interval: float = 1.0,
    ) -> None:
        check_gil()
        self.db_path: Path = resolve_db_path(db)
        self.strict = strict
        self.finished = False
        self.disabled = False
        self.attached = attach is not None  # writes into a run another process owns
        self._interval = flush_interval
        with lifecycle.critical():  # a SIGTERM handler must not finish runs while pools change
            # A new run whose server cannot be reached starts in the local spool (not strict).
            backend, self.db_path = spool.open_for_start(
                self.db_path, strict=strict, may_spool=attach is None and resume is None)
            try:
                if attach is not None:
                    row = start.load(backend, attach, "attach", self.db_path)
                elif resume is not None and check_run_ref(resume, "resume"):  # "" is an error
                    row = start.resume(backend, resume, config, tags, notes, self.db_path)
                else:
                    row = start.create(backend, project, name, config, tags, group, notes)
                spill.recover(backend, self.db_path)  # what earlier runs could not write
            except BaseException:
                backend.close()
                raise
            self._row = row
            self.id, self.project, self.name, self.group = row.id, row.project, row.name, row.group
            self.config, self.tags, self._next_step = row.config, row.tags, row.next_step
            self._buf = ScalarBuffer()
            self._writer: Writer | None = self._new_writer(backend)
            # the one step that makes an entry visible
            self._publish: Callable[[Entry, int | None], None] = self._buf.publish
            self._key_index: set[str] = set()  # keys checked so far (the fast path's test)
            self._packed_keys: set[tuple[str, ...]] = set()  # packed metrics' keys checked
            self._flush_hooks: list[Callable[[], None]] = []
            self._finish_lock = threading.Lock()  # one finish at a time (SIGTERM waits)
            # True from the start of finish(), before its flush hooks run: a hook can then end
            # its own work for good (watch() finalizes its last recorded step) rather than hand
            # over what it has so far
            self.finishing = False
            lifecycle.register(self)  # (a SIGTERM meanwhile acts after this, on this run too)

    def _new_writer(self, backend: WriteBackend) -> Writer:
        return Writer(backend, self.id, db_label=str(self.db_path), db_path=self.db_path,
                      interval=self._interval, scalars=self._buf, run_row=self._current_row)

    def _current_row(self) -> RunStart:
        """The run's row as it is now: what a store at its path that lacks it (the file was
        deleted or replaced while the run logged) gets again, so the run goes on there."""
        row = self._row
        return RunStart(row.id, row.project, row.name, row.group, dict(self.config),
                        list(self.tags), 0, row.notes, row.started)

    # -- forks --------------------------------------------------------------------------------------
    # A forked child (a DataLoader or multiprocessing worker) inherits this object but not its
    # writer's thread, and must not touch the parent's buffer or connection. It logs into the same
    # run through a writer of its own, opened on its first use, like tracker.attach(): logging in a
    # worker then just works (refusing would fail the worker, and with it the training), and the
    # run's status stays the parent's to set.
    def _after_fork(self) -> None:
        """In a forked child: drop the parent's buffer and writer (never close its connection)."""
        if self._writer is not None:
            self._writer.backend.abandon()
        self._writer = None
        self._buf = ScalarBuffer()
        self._publish = self._publish_in_child
        self._finish_lock = threading.Lock()
        self._child_lock = threading.Lock()
        self.attached = True

    def _publish_in_child(self, entry: Entry, points: int | None) -> None:
        self._open_in_child()
        self._buf.publish(entry, points)

    def _open_in_child(self) -> Writer:
        """This process's writer for the run, opened on first use after a fork."""
        with self._child_lock:
            if self._writer is None:
                with lifecycle.critical():
                    self._writer = self._new_writer(open_backend(self.db_path, mode="write"))
                    self._publish = self._buf.publish
                    lifecycle.register(self)
                util = sys.modules.get("multiprocessing.util")
                if util is not None:  # a multiprocessing child ends with os._exit: no atexit
                    util.Finalize(None, self.finish, exitpriority=100)
            return self._writer

    @property
    def step(self) -> int | None:
        """The highest step logged so far (None before the first ``log()``)."""
        return self._next_step - 1 if self._buf.appended or self._next_step else None

    # -- logging ----------------------------------------------------------------------------------
    # Every logging path builds its entry first and publishes it with one append (``_publish``):
    # an exception anywhere (Ctrl-C, a signal handler's) leaves the whole entry or none of it, and
    # no lock is taken, so a SIGTERM handler that logs while this thread was logging cannot hang.
    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Buffer scalar metrics at ``step`` (default: one past the highest step so far).

        Values may be Python or numpy numbers or one-element torch/JAX/TensorFlow tensors; device
        values are never waited for here: JAX arrays on CPU are read by a later call once
        computed, others on the writer thread. Nested dicts become 'a/b' keys.
        A bad key or value raises ``TypeError``/``ValueError`` naming the key, and nothing from
        this call is logged.
        """
        # The hot path: a dict of floats (or 0-d JAX arrays) under keys seen before. Everything
        # else (first use of a key, ints, numpy, tensors, nesting, bad input, a finished run)
        # goes through _log_slow.
        if step is None:
            step = self._next_step
            if step > INT64_MAX:
                raise ValueError(f"the next step ({step}) does not fit in a 64-bit integer; "
                                 "pass step= explicitly")
        elif type(step) is not int or not INT64_MIN <= step <= INT64_MAX:
            step = check_step(step)
        if type(metrics) is not dict or self.finished:
            return self._log_slow(metrics, step)
        index = self._key_index
        deferred = False
        read: dict[str, float] | None = None  # CPU torch scalars, read here (nothing to wait for)
        for key, value in metrics.items():
            if type(value) is not float or key not in index:
                if key in index:
                    kind = type(value)
                    if kind in DEFERRED_TYPES and not value.ndim:
                        deferred = True
                        continue
                    if kind in CPU_READ_TYPES:
                        number = read_cpu_scalar(value)
                        if number is not None:
                            if read is None:
                                read = {}
                            read[key] = number
                            continue
                if type(value) is dict:  # nested: log the flat form (checked from scratch)
                    return self.log(flatten_nested(metrics), step)
                return self._log_slow(metrics, step)
        buf = self._buf
        if deferred or read is not None:
            older = len(buf.unread)  # JAX values queued by earlier calls (see _after_deferred)
            entry = self._device_entry(metrics, read, step)
        else:
            entry = (step, _now(), tuple(metrics), tuple(metrics.values()), None)
        if step >= self._next_step:  # hooks may log an earlier step from another thread
            self._next_step = step + 1
        self._publish(entry, len(metrics))
        if buf.appended - buf.taken >= buf.soft_limit or self.strict:
            self._after_append()
        if deferred:
            self._after_deferred(older)
        return None

    def _device_entry(self, metrics: dict[str, Any], read: dict[str, float] | None,
                      step: int) -> Entry:
        """The entry of a fast-path call with 0-d device arrays (NaN slots, read later) or CPU
        tensors already read (``read``)."""
        values: list[float] = []
        device = []
        for i, (key, value) in enumerate(metrics.items()):
            if type(value) is float:
                values.append(value)
            elif read is not None and key in read:
                values.append(read[key])
            else:
                device.append((i, Deferred(value, DEFERRED_TYPES[type(value)])))
                values.append(math.nan)
        return self._entry(step, tuple(metrics), values, device)

    def _entry(self, step: int, keys: tuple[str, ...], values: list[float],
               device: list[tuple[int, Deferred]]) -> Entry:
        for _, item in device:  # queued for reading before the entry is visible: see take()
            self._buf.defer(item)
        return (step, _now(), keys, tuple(values), tuple(device) if device else None)

    def _after_deferred(self, older: int) -> None:
        """Read JAX-on-CPU values queued by earlier calls (``older``) here once computed; have
        the writer read device values early when many wait, since JAX arrays kept alive slow
        its dispatch down (buffer.READ_EARLY_AT). (Torch CUDA handles only cost memory: they
        wait for the flush, batched.)"""
        buf, writer = self._buf, self._writer
        if writer is None:
            return
        if buf.read_here:
            if buf.read_here_now(older):  # the device is behind: let the writer wait for it
                writer.read_deferred_soon()
        elif len(buf.deferred) >= buf.read_deferred_at:
            writer.read_deferred_soon()

    def _log_slow(self, metrics: Any, step: int) -> None:
        if self.finished:
            self._closed_warning()
            return
        packed = getattr(metrics, "__tracker_packed__", None)  # tracker.hooks.jax.pack()
        if packed is not None and type(metrics) is not dict:
            keys, array = packed()
            self._log_packed(keys, array, step)
            return
        self._log_checked(self._checked(metrics), step)

    def _log_packed(self, keys: tuple[str, ...], array: Any, step: int) -> None:
        """Log the values of one 1-d JAX array under ``keys``: one device read for them all."""
        if keys not in self._packed_keys:
            for key in keys:
                check_key(key)
            if len(set(keys)) != len(keys):
                twice = next(k for k in keys if keys.count(k) > 1)
                raise ValueError(f"metric {twice!r} is given twice")
        if tuple(getattr(array, "shape", ())) != (len(keys),):
            raise ValueError(f"packed metrics: {len(keys)} keys for an array of shape "
                             f"{getattr(array, 'shape', None)}; build them with pack()")
        self._packed_keys.add(keys)
        older = len(self._buf.unread)
        entry = self._entry(step, keys, [math.nan] * len(keys), [(0, Deferred(array, "jaxvec"))])
        self._publish_checked(entry, step, len(keys))
        self._after_deferred(older)

    def _publish_checked(self, entry: Entry, step: int, n: int) -> None:
        """Publish an entry of the slow paths, then wake or wait for the writer as needed."""
        if step >= self._next_step:
            self._next_step = step + 1
        self._publish(entry, n)
        self._after_append()

    def _after_append(self) -> None:
        """Wake the writer when the buffer is large; wait for it when it is full (bounded memory)."""
        buf, writer = self._buf, self._writer
        if writer is None:
            return
        pending = buf.pending()
        if pending >= buf.hard_limit:
            writer.wait_for_room()
        elif pending >= buf.soft_limit:
            writer.wake()
        if self.strict and writer.unraised is not None:
            self._raise_store_error()

    def _log_checked(self, metrics: dict[str, Any], step: int) -> None:
        """Publish one entry of floats and ``Deferred`` handles (what ``_checked`` returns)."""
        older = len(self._buf.unread)
        values: list[float] = []
        device = []
        for i, value in enumerate(metrics.values()):
            if type(value) is Deferred:
                device.append((i, value))
                value = math.nan
            values.append(value)
        self._publish_checked(self._entry(step, tuple(metrics), values, device), step, len(values))
        if device:
            self._after_deferred(older)

    def _checked(self, metrics: Any) -> dict[str, Any]:
        """Validate keys and convert values (the slow path: ints, numpy, tensors, bad input)."""
        if type(metrics) is not dict and not isinstance(metrics, Mapping):
            raise TypeError(
                f"log() takes a dict of metrics such as {{'loss': 0.5}}, not {type(metrics).__name__}"
            )
        out: dict[str, Any] = {}
        index = self._key_index
        for key, value in metrics.items():
            if key not in index:
                check_key(key)
                index.add(key)  # valid whatever its value: later calls skip the check
            try:
                out[key] = to_scalar(key, value)
            except TypeError:
                if isinstance(value, Mapping):  # nested dicts: checked again in the flat form
                    return self._checked(flatten_nested(metrics))
                raise
        return out

    def log_sample(self, values: dict[str, float]) -> None:
        """Log floats under checked keys at the current step without advancing it or ever
        waiting (the system sampler's thread; tracker.run.capture)."""
        if not self.finished:
            self._publish((max(self._next_step - 1, 0), _now(), tuple(values),
                           tuple(values.values()), None), None)

    def log_console(self, lines: list[tuple[str, float, int | None, str]]) -> None:
        """Store captured console lines, (stream, wall, step, text) each, as one record."""
        if not self.finished:  # a capture's last batch can come after a stuck stop gave up
            self._record(ConsoleLines(lines))

    def log_series(
        self, key: str, steps: Any, values: Any, walls: Any = None
    ) -> None:
        """Append many points of one key at once (importers, back-fills): numpy-like arrays.

        ``walls`` (unix seconds, one per point) default to now. Values must be real numbers.
        """
        check_key(key)
        step_arr = np.asarray(steps)
        if step_arr.dtype.kind not in "iu":
            raise TypeError(f"metric {key!r}: steps must be integers, not {step_arr.dtype}")
        step_arr = step_arr.reshape(-1)
        if step_arr.dtype.kind == "u" and step_arr.size and step_arr.max() > INT64_MAX:
            raise ValueError(f"metric {key!r}: a step does not fit in a 64-bit integer")
        step_arr = step_arr.astype(np.int64)
        value_arr = np.asarray(values, dtype=np.float64).reshape(-1)
        n = len(step_arr)
        wall_arr = (
            np.full(n, _now()) if walls is None else np.asarray(walls, dtype=np.float64).reshape(-1)
        )
        if len(value_arr) != n or len(wall_arr) != n:
            raise ValueError(
                f"metric {key!r}: got {n} steps, {len(value_arr)} values and {len(wall_arr)} walls"
            )
        if self.finished:
            self._closed_warning()
            return
        if n == 0:
            return
        self._key_index.add(key)
        buf = self._buf
        entry = (step_arr, wall_arr, (key,), value_arr, None)
        self._next_step = max(self._next_step, int(step_arr.max()) + 1)
        self._publish(entry, n)
        if buf.pending() >= buf.soft_limit and self._writer is not None:
            self._writer.wake()

    def _current_step(self, step: int | None) -> int:
        if step is None:
            return max(self._next_step - 1, 0)
        return check_step(step)

    def log_histogram(
        self,
        key: str,
        values: Any,
        step: int | None = None,
        *,
        bins: int = 64,
        wall: float | None = None,
    ) -> None:
        """Log a histogram of ``values`` (any array-like or a ``Histogram``) at ``step``.

        ``step`` defaults to the step of the last ``log()`` call; ``wall`` (unix seconds) to now.
        """
        check_key(key, "histogram")
        step = self._current_step(step)
        if isinstance(values, Histogram):
            hist = values
        else:
            if not isinstance(bins, int) or bins < 1:
                raise ValueError(f"histogram {key!r}: bins must be a positive integer, not {bins!r}")
            hist = Histogram.from_values(to_numpy(values, f"histogram {key!r}"), bins)
        self._record(HistogramItem(key, step, _now() if wall is None else float(wall), hist))

    def log_text(
        self, key: str, text: str, step: int | None = None, *, wall: float | None = None
    ) -> None:
        """Log a text (markdown is kept as written) at ``step`` (default: the last step)."""
        check_key(key, "text")
        if not isinstance(text, str):
            raise TypeError(f"text {key!r} must be a str, not {type(text).__name__}")
        if not text.isascii():
            check_utf8(text, f"text {key!r}")
        when = _now() if wall is None else float(wall)
        self._record(TextItem(key, self._current_step(step), when, text))

    def log_image(self, key: str, value: Any, step: int | None = None,
                  caption: str | None = None, *, wall: float | None = None) -> None:
        """Log an image (array, batch, PIL image, figure, file path: docs/images.md) at ``step``
        (default: the last step). Only checked here; the writer thread encodes and stores it."""
        pending = prepare(key, value, caption)
        when = _now() if wall is None else float(wall)
        self._record(ImagePending(key, self._current_step(step), when, pending))
        writer = self._writer
        if writer is not None and len(writer.records) >= IMAGES_WAKE_AT:
            # images waiting cost memory: have them encoded now; past IMAGES_WAIT_AT wait for a
            # healthy writer to take them (bounded memory, as log() does for points)
            if len(writer.records) >= IMAGES_WAIT_AT:
                writer.wait_for_room()
            else:
                writer.wake()

    def log_graph(self, graph: Graph) -> None:
        """Store a model graph (built by a framework hook) with this run."""
        if not isinstance(graph, Graph):
            raise TypeError(f"log_graph() takes a tracker.Graph, not {type(graph).__name__}")
        self._record(graph)
        self._wake()

    def log_profile(self, profile: Profile) -> None:
        """Store a profiler capture (built by a framework hook) with this run."""
        if not isinstance(profile, Profile):
            raise TypeError(f"log_profile() takes a tracker.Profile, not {type(profile).__name__}")
        self._record(profile)
        self._wake()

    def set_summary(self, **values: Any) -> None:
        """Merge values into the run's summary (shown by ``tracker show`` and the app)."""
        self._record(SummaryPatch(to_config(values, "summary")))

    def update_config(self, values: Any) -> None:
        """Merge top-level keys into the run's config (hooks add what they learn, e.g. fit())."""
        self.config.update(to_config(values))
        self._record(ConfigSet(dict(self.config)))  # a snapshot: later updates queue theirs

    def _record(self, record: Record | ImagePending) -> None:
        if self.finished:
            self._closed_warning()
            return
        writer = self._writer or self._open_in_child()
        writer.records.append(record)  # one append: the record is whole or absent
        if self.strict and writer.unraised is not None:
            self._raise_store_error()

    def _wake(self) -> None:
        if self._writer is not None:
            self._writer.wake()

    def add_flush_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` first thing in every ``flush()`` and ``finish()`` (exit and SIGTERM
        included): a framework hook that gathers points before logging them hands them over
        there (``run.finishing`` tells a finish from a flush). Held until
        ``remove_flush_hook(hook)`` or the run's end."""
        if hook not in self._flush_hooks:
            self._flush_hooks.append(hook)

    def remove_flush_hook(self, hook: Callable[[], None]) -> None:
        """Stop calling ``hook`` (no error when it is not registered)."""
        if hook in self._flush_hooks:
            self._flush_hooks.remove(hook)

    def _run_flush_hooks(self) -> None:
        for hook in list(self._flush_hooks):
            try:
                hook()
            except Exception as exc:  # a hook's bug must not stop the flush (or the exit)
                warn(f"a flush hook failed: {type(exc).__name__}: {exc}")

    # -- ending -----------------------------------------------------------------------------------
    def flush(self) -> bool:
        """Write everything buffered now; True when it reached the file (readable by others)."""
        if self.finished:
            return True
        with lifecycle.critical():  # a SIGTERM arriving meanwhile acts once the flush is done
            self._run_flush_hooks()
            writer = self._writer
            ok = True if writer is None else writer.flush()  # (None: a fork that logged nothing)
        if not ok and self.strict:
            self._raise_store_error()
        return ok

    def finish(self, status: str = "finished") -> None:
        """Write everything buffered, mark the run ``status`` and close. Safe to call twice.

        A SIGTERM arriving meanwhile lets it complete. When the store cannot be written, what is
        unwritten goes to a spill file next to it (the next writer of the store writes it in,
        with this status); the run is never marked ``status`` without its data.
        """
        outcome = None
        with lifecycle.critical(), self._finish_lock:  # another thread's finish: wait for it
            if self.finished:
                return
            self.finishing = True
            self._run_flush_hooks()
            self._flush_hooks = []
            self.finished = True  # from here on, log() warns and stores nothing
            writer = self._writer
            if writer is not None:
                outcome = writer.close(None if self.attached else status, ended=_now())
                writer.backend.close(healthy=outcome.written)
                self._report_end(outcome)
            lifecycle.unregister(self)  # only now: a SIGTERM handler meanwhile waits for us
        if outcome is not None and not outcome.written and self.strict and not outcome.run_gone:
            self._raise_store_error()

    def _report_end(self, outcome: Outcome) -> None:
        """Say what became of data that did not reach the store (one message)."""
        if outcome.run_gone or outcome.written and not outcome.lost_points:
            return
        writer = self._writer
        assert writer is not None
        err = writer.error
        why = f" ({err})" if err is not None else ""
        records = f" and {outcome.lost_records:,} other records" if outcome.lost_records else ""
        if outcome.lost_points or outcome.lost_records:
            warn(f"run {self.id}: {outcome.lost_points:,} points{records} could not be "
                 f"stored and were lost: the store {self.db_path} could not be written{why}, "
                 f"nor a spill file in {spill.folder(self.db_path)}")
        if outcome.spilled and isinstance(self.db_path, ServerURL):
            where = spill.folder(self.db_path)
            warn(f"run {self.id}: the server store {self.db_path} could not be written "
                 f"within {FINISH_WAIT_S:g} s of finish{why}; {writer.spilled_points:,} points "
                 f"and {writer.spilled_records:,} other records wait in {where}: push them with "
                 f"`tracker sync {where} {without_password(self.db_path.conninfo)}` (the next "
                 "tracker.init() on this host that logs there does it too). Until then the run "
                 "shows as crashed.")
        elif outcome.spilled:
            files = ", ".join(str(p) for p in outcome.spilled)
            warn(f"run {self.id}: the store {self.db_path} could not be written at "
                 f"finish{why}; {writer.spilled_points:,} points and {writer.spilled_records:,} "
                 f"other records are kept in {files}. The next tracker.init() on this store "
                 "writes them in and marks the run; until then it shows as crashed.")
        elif not outcome.written:
            warn(f"run {self.id}: its last data could not be written{why}")

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(lifecycle.status_for_exit(exc))

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.project}/{self.name} db={self.db_path}>"

    # -- errors -----------------------------------------------------------------------------------
    def _raise_store_error(self) -> None:
        """Raise the writer's storage error once: a strict run that catches it goes on, and
        raises again only for a new fault."""
        writer = self._writer
        err = None
        if writer is not None:
            err, writer.unraised = writer.unraised or writer.error, None
        if isinstance(err, StoreError):
            raise err
        raise StoreError(f"cannot write to {self.db_path}: {err}")

    def _closed_warning(self) -> None:
        warnings.warn(f"run {self.id} is finished; values logged after finish() are ignored",
                      stacklevel=3)
