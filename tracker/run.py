"""Run: one training run's logging API (config, log, histograms, text, graphs, profiles, finish)."""

from __future__ import annotations

import json
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

from . import lifecycle, run_rows
from .config import to_config
from .errors import StoreError
from .graph import Graph
from .paths import resolve_db_path
from .profile import Profile
from .records import Histogram
from .refs import check_run_ref
from .store import pool, transaction
from .store.writer import Writer
from .values import (
    CPU_READ_TYPES,
    DEFERRED_TYPES,
    INT64_MAX,
    INT64_MIN,
    Deferred,
    check_key,
    check_step,
    flatten_nested,
    read_cpu_scalar,
    to_numpy,
    to_scalar,
)

_now = time.time


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
        self.db_path: Path = resolve_db_path(db)
        self.strict = strict
        self.finished = False
        self.disabled = False
        self.attached = attach is not None  # writes into a run another process owns
        self._conn = pool.acquire(self.db_path, cache_kib=4_000)
        try:
            if attach is not None:
                row = run_rows.load(self._conn, attach, "attach", self.db_path)
            elif resume is not None and check_run_ref(resume, "resume"):  # "" is an error
                row = run_rows.resume(self._conn, resume, config, tags, notes, self.db_path)
            else:
                row = run_rows.create(self._conn, project, name, config, tags, group, notes)
        except BaseException:
            pool.release(self.db_path, self._conn)
            raise
        self.id, self.project, self.name, self.group = row.id, row.project, row.name, row.group
        self.config, self.tags, self._next_step = row.config, row.tags, row.next_step
        self._writer = Writer(
            self._conn, self.id, db_label=str(self.db_path), interval=flush_interval
        )
        self._buf = self._writer.scalars
        # Bound methods and limits cached for the log() fast path.
        buf = self._buf
        self._append_value, self._append_key = buf.values.append, buf.key_ids.append
        self._append_count, self._append_wall = buf.counts.append, buf.walls.append
        self._append_step = buf.steps.append
        self._key_index = buf.key_index  # keys seen so far -> id
        self._packed_ids: dict[tuple[str, ...], list[int]] = {}  # packed metrics' keys -> ids
        self._log_lock = threading.Lock()  # several threads may log to one run
        self._acquire, self._release = self._log_lock.acquire, self._log_lock.release
        self._soft_limit = self._writer.soft_limit
        self._flush_hooks: list[Callable[[], None]] = []
        # True from the start of finish(), before its flush hooks run: a hook can then end its
        # own work for good (watch() finalizes its last recorded step) rather than hand over
        # what it has so far
        self.finishing = False
        lifecycle.register(self)

    @property
    def step(self) -> int | None:
        """The highest step logged so far (None before the first ``log()``)."""
        return self._next_step - 1 if self._buf.appended or self._next_step else None

    # -- logging ----------------------------------------------------------------------------------
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
        append_value, append_key = self._append_value, self._append_key
        n = len(metrics)
        buf = self._buf
        older = len(buf.unread)  # JAX values queued by earlier calls (see _after_deferred)
        self._acquire()  # one entry's appends must not interleave with another thread's
        try:
            if deferred or read is not None:
                position = buf.appended
                for key, value in metrics.items():
                    if type(value) is not float:
                        if read is not None and key in read:
                            value = read[key]
                        else:  # a 0-d device array: a NaN slot now, the value read later
                            buf.defer(position, Deferred(value, DEFERRED_TYPES[type(value)]))
                            value = math.nan
                    append_value(value)
                    append_key(index[key])
                    position += 1
            else:
                for key, value in metrics.items():
                    append_value(value)
                    append_key(index[key])
            self._append_count(n)
            self._append_wall(_now())
            self._append_step(step)  # last: makes the entry visible to the writer
            buf.appended += n
            if step >= self._next_step:  # hooks may log an earlier step from another thread
                self._next_step = step + 1
        finally:
            self._release()
        if buf.appended - buf.taken >= self._soft_limit or self.strict:
            self._after_append()
        if deferred:
            self._after_deferred(older)
        return None

    def _after_deferred(self, older: int) -> None:
        """Read JAX-on-CPU values queued by earlier calls (``older``) here once computed; have
        the writer read device values early when many wait, since JAX arrays kept alive slow
        its dispatch down (buffer.READ_EARLY_AT). (Torch CUDA handles only cost memory: they
        wait for the flush, batched.)"""
        buf = self._buf
        if buf.read_here:
            if buf.read_here_now(older):  # the device is behind: let the writer wait for it
                self._writer.read_deferred_soon()
        elif len(buf.deferred) >= buf.read_deferred_at:
            self._writer.read_deferred_soon()

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
        buf = self._buf
        ids = self._packed_ids.get(keys)
        if ids is None:
            for key in keys:
                check_key(key)
            if len(set(keys)) != len(keys):
                twice = next(k for k in keys if keys.count(k) > 1)
                raise ValueError(f"metric {twice!r} is given twice")
        if tuple(getattr(array, "shape", ())) != (len(keys),):
            raise ValueError(f"packed metrics: {len(keys)} keys for an array of shape "
                             f"{getattr(array, 'shape', None)}; build them with pack()")
        older = len(buf.unread)
        with self._log_lock:
            if ids is None:
                ids = self._packed_ids[keys] = [buf.key_id(key) for key in keys]
            position = buf.appended
            for kid in ids:
                buf.values.append(math.nan)
                buf.key_ids.append(kid)
            buf.defer(position, Deferred(array, "jaxvec"))  # after its slots: see defer()
            self._end_entry(len(ids), step)
        self._after_append()
        self._after_deferred(older)

    def _end_entry(self, n: int, step: int) -> None:
        """Close an entry of ``n`` points appended under the log lock (log()'s fast path does
        the same inline)."""
        self._append_count(n)
        self._append_wall(_now())
        self._append_step(step)  # last: makes the entry visible to the writer
        self._buf.appended += n
        if step >= self._next_step:  # hooks may log an earlier step from another thread
            self._next_step = step + 1

    def _after_append(self) -> None:
        """Wake the writer when the buffer is large; wait for it when it is full (bounded memory)."""
        buf, writer = self._buf, self._writer
        pending = buf.pending()
        if pending >= writer.hard_limit:
            writer.wait_for_room()
        elif pending >= writer.soft_limit:
            writer.wake()
        if self.strict and writer.error is not None:
            self._raise_store_error()

    def _log_checked(self, metrics: dict[str, Any], step: int) -> None:
        """Append one entry of floats and ``Deferred`` handles (what ``_checked`` returns)."""
        buf = self._buf
        older = len(buf.unread)
        with self._log_lock:
            position = buf.appended
            for key, value in metrics.items():
                kid = buf.key_id(key)
                if type(value) is Deferred:
                    buf.defer(position, value)
                    value = math.nan
                buf.values.append(value)
                buf.key_ids.append(kid)
                position += 1
            self._end_entry(len(metrics), step)
        self._after_append()
        if buf.deferred:
            self._after_deferred(older)

    def _checked(self, metrics: Any) -> dict[str, Any]:
        """Validate keys and convert values (the slow path: ints, numpy, tensors, bad input)."""
        if type(metrics) is not dict and not isinstance(metrics, Mapping):
            raise TypeError(
                f"log() takes a dict of metrics such as {{'loss': 0.5}}, not {type(metrics).__name__}"
            )
        out: dict[str, Any] = {}
        for key, value in metrics.items():
            if key not in self._key_index:
                check_key(key)
            try:
                out[key] = to_scalar(key, value)
            except TypeError:
                if isinstance(value, Mapping):  # nested dicts: checked again in the flat form
                    return self._checked(flatten_nested(metrics))
                raise
        return out

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
        step_arr = step_arr.astype(np.int64).reshape(-1)
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
        buf = self._buf
        with self._log_lock:
            kid = buf.key_id(key)
            buf.values.frombytes(value_arr.astype("=f8").tobytes())
            buf.key_ids.frombytes(np.full(n, kid, dtype="=i4").tobytes())
            buf.counts.frombytes(np.ones(n, dtype="=u4").tobytes())
            buf.walls.frombytes(wall_arr.astype("=f8").tobytes())
            buf.appended += n
            buf.steps.frombytes(step_arr.astype("=i8").tobytes())  # last: entries now visible
            self._next_step = max(self._next_step, int(step_arr.max()) + 1)
        if buf.pending() >= self._writer.soft_limit:
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
        self._record("histogram", (key, step, _now() if wall is None else float(wall), hist))

    def log_text(
        self, key: str, text: str, step: int | None = None, *, wall: float | None = None
    ) -> None:
        """Log a text (markdown is kept as written) at ``step`` (default: the last step)."""
        check_key(key, "text")
        if not isinstance(text, str):
            raise TypeError(f"text {key!r} must be a str, not {type(text).__name__}")
        when = _now() if wall is None else float(wall)
        self._record("text", (key, self._current_step(step), when, text))

    def log_graph(self, graph: Graph) -> None:
        """Store a model graph (built by a framework hook) with this run."""
        if not isinstance(graph, Graph):
            raise TypeError(f"log_graph() takes a tracker.Graph, not {type(graph).__name__}")
        self._record("graph", graph)
        self._writer.wake()

    def log_profile(self, profile: Profile) -> None:
        """Store a profiler capture (built by a framework hook) with this run."""
        if not isinstance(profile, Profile):
            raise TypeError(f"log_profile() takes a tracker.Profile, not {type(profile).__name__}")
        self._record("profile", profile)
        self._writer.wake()

    def set_summary(self, **values: Any) -> None:
        """Merge values into the run's summary (shown by ``tracker show`` and the app)."""
        payload = json.dumps(to_config(values))
        self._record(
            "sql",
            ("UPDATE runs SET summary = json_patch(summary, ?) WHERE id = ?", (payload, self.id)),
        )

    def update_config(self, values: Any) -> None:
        """Merge top-level keys into the run's config (hooks add what they learn, e.g. fit())."""
        self.config.update(to_config(values))
        payload = json.dumps(self.config)  # a snapshot: later updates queue their own
        self._record("sql", ("UPDATE runs SET config = ? WHERE id = ?", (payload, self.id)))

    def _record(self, kind: str, payload: Any) -> None:
        if self.finished:
            self._closed_warning()
            return
        self._writer.records.append((kind, payload))
        if self.strict and self._writer.error is not None:
            self._raise_store_error()

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
                print(f"tracker: a flush hook failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    # -- ending -----------------------------------------------------------------------------------
    def flush(self) -> bool:
        """Write everything buffered now; True when it reached the file (readable by others)."""
        if self.finished:
            return True
        self._run_flush_hooks()
        ok = self._writer.flush()
        if not ok and self.strict:
            self._raise_store_error()
        return ok

    def finish(self, status: str = "finished") -> None:
        """Write everything buffered, mark the run ``status`` and close. Safe to call twice."""
        if self.finished:
            return
        self.finishing = True
        self._run_flush_hooks()
        self._flush_hooks = []
        self.finished = True
        lifecycle.unregister(self)
        ok = self._writer.close()
        try:
            if not self.attached:  # the owner decides the run's status
                now = _now()
                with transaction(self._conn):
                    self._conn.execute(
                        "UPDATE runs SET status = ?, ended = ?, heartbeat = ? WHERE id = ?",
                        (status, now, now, self.id),
                    )
        except Exception as exc:  # storage failure at the very end: report, never raise
            self._writer.report(exc)
            ok = False
        finally:
            pool.release(self.db_path, self._conn)
        if self._writer.dropped:
            print(
                f"tracker: {self._writer.dropped} points of run {self.id} could not be stored",
                file=sys.stderr,
            )
        if not ok and self.strict:
            self._raise_store_error()

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.finish("killed" if issubclass(exc_type, KeyboardInterrupt) else "failed")

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.project}/{self.name} db={self.db_path}>"

    # -- errors -----------------------------------------------------------------------------------
    def _raise_store_error(self) -> None:
        err = self._writer.error
        if isinstance(err, StoreError):
            raise err
        raise StoreError(f"cannot write to {self.db_path}: {err}")

    def _closed_warning(self) -> None:
        warnings.warn(f"run {self.id} is finished; values logged after finish() are ignored",
                      stacklevel=3)
