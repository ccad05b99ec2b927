"""``profile()``: torch.profiler over a few training steps, stored as a ``tracker.Profile``.

The top-ops table is ``key_averages()`` (no trace parsing); the chrome trace is kept for export;
step times come from the profiler's own ``ProfilerStep`` spans. Steps advance on every
``optimizer.step()`` by default (a global optimizer hook), or by calling ``.step()`` yourself.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from ...contract import RunLike
from ...notices import warn
from ...profile import Profile, ProfileOp
from .._shared.native_noise import call_quietly


def _call_quietly_with_probe(fn: Any) -> Any:
    """``fn()`` inside ``quiet_native_noise()``, freeing a tensor allocated before it.

    With ``profile_memory``, c10 prints "Memory block of unknown size was allocated before the
    profiling started" (LOG(WARNING) on fd 2, on the first such free and every 1000th after) when
    a tensor allocated before recording began is freed during it: otherwise the first tensor
    the training loop frees, outside any quiet block. If ``fn`` starts recording, the probe is
    that first free, and its warning is dropped with the rest of the known noise.
    """

    def call() -> Any:
        probe = torch.empty(1)
        try:
            return fn()
        finally:
            del probe

    return call_quietly(call)


class ProfileWindow:
    """A context manager that profiles ``steps`` training steps and logs the result to a run."""

    def __init__(
        self,
        run: RunLike,
        steps: int = 5,
        *,
        wait: int = 0,
        warmup: int = 1,
        activities: list[Any] | None = None,
        record_shapes: bool = True,
        profile_memory: bool = True,
        with_flops: bool = True,
        with_stack: bool = False,
        trace: bool = True,
        step_on: str = "optimizer",
        name: str = "profile",
    ) -> None:
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer, not {steps!r}")
        if step_on not in ("optimizer", "manual"):
            raise ValueError(f"step_on must be 'optimizer' or 'manual', not {step_on!r}")
        self.run, self.steps, self.wait, self.warmup = run, steps, wait, warmup
        self.record_shapes, self.profile_memory = record_shapes, profile_memory
        self.with_flops, self.with_stack, self.trace = with_flops, with_stack, trace
        self.step_on, self.name = step_on, name
        self.activities = activities
        self.profile: Profile | None = None  # what was logged, once the window is done
        self._prof: Any = None
        self._hook: Any = None
        self._base = 0
        self._cut_short = False

    # -- use ----------------------------------------------------------------------------------------
    def __enter__(self) -> ProfileWindow:
        if self.run.disabled:
            return self  # a rank that does not log does not pay for profiling either
        from torch.profiler import ProfilerActivity, schedule

        activities = self.activities
        if activities is None:
            activities = [ProfilerActivity.CPU]
            if torch.cuda.is_available():
                activities.append(ProfilerActivity.CUDA)
        self.activities = activities
        last = self.run.step
        self._base = 0 if last is None else last + 1
        self._prof = torch.profiler.profile(
            activities=activities,
            schedule=schedule(wait=self.wait, warmup=self.warmup, active=self.steps, repeat=1),
            on_trace_ready=self._ready,
            record_shapes=self.record_shapes,
            profile_memory=self.profile_memory,
            with_flops=self.with_flops,
            with_stack=self.with_stack,
        )
        _call_quietly_with_probe(self._prof.__enter__)
        if self.step_on == "optimizer":
            from torch.optim.optimizer import register_optimizer_step_post_hook

            self._hook = register_optimizer_step_post_hook(self._on_optimizer_step)
        return self

    def step(self) -> None:
        """Mark the end of a training step (turns off the automatic optimizer-step trigger)."""
        self._remove_hook()
        if self._prof is not None and self.profile is None:
            _call_quietly_with_probe(self._prof.step)  # starts or stops it on window edges

    def _on_optimizer_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self._prof is not None and self.profile is None:
            _call_quietly_with_probe(self._prof.step)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._remove_hook()
        if self._prof is None:
            return
        prof, self._prof = self._prof, None
        self._cut_short = True  # if the profiler is still recording, its last span is a tail
        # a window cut short still reports what it recorded
        call_quietly(prof.__exit__, exc_type, exc, tb)
        if self.profile is None and exc_type is None:
            warn(
                "profile() recorded no step; call optimizer.step() (or .step() on the "
                "profile) inside the block, for more than the warmup steps"
            )

    def _remove_hook(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    # -- the capture ----------------------------------------------------------------------------
    def _ready(self, prof: Any) -> None:
        try:
            profile = self._build(prof)
        except Exception as exc:  # never let the capture end a training run
            warn(f"profile() could not read the profiler ({exc!r})")
            return
        self.profile = profile
        self._remove_hook()
        if not self.run.finished:
            self.run.log_profile(profile)

    def _build(self, prof: Any) -> Profile:
        from torch.profiler import ProfilerActivity

        on_device = ProfilerActivity.CUDA in (self.activities or [])
        rows = prof.key_averages(group_by_input_shape=self.record_shapes)
        ops = [_op(row, on_device) for row in rows]
        ops.sort(key=lambda op: op.self_ns + (op.device_self_ns or 0.0), reverse=True)
        spans = [e for e in prof.events() if e.name.startswith("ProfilerStep")]
        if self._cut_short and spans:
            spans = spans[:-1]  # from the last step() to the end of the block: not a step
        first = self._base + self.wait + self.warmup
        step_times = [(first + i, float(e.time_range.elapsed_us()) * 1e3) for i, e in enumerate(spans)]
        duration = None
        if spans:
            duration = float(spans[-1].time_range.end - spans[0].time_range.start) * 1e3
        trace = _chrome_trace(prof) if self.trace else None
        return Profile(
            ops=ops,
            step_times_ns=step_times,
            name=self.name,
            framework="torch",
            step_from=step_times[0][0] if step_times else None,
            step_to=step_times[-1][0] if step_times else None,
            duration_ns=duration,
            trace=trace,
            trace_format="torch_chrome_json" if trace is not None else None,
            trace_name=f"{socket.gethostname()}_{os.getpid()}",
            meta={
                "torch": torch.__version__,
                "activities": [str(a).rpartition(".")[2] for a in self.activities or []],
                "record_shapes": self.record_shapes,
                "profile_memory": self.profile_memory,
            },
        )


def _op(row: Any, on_device: bool) -> ProfileOp:
    name = str(row.key)
    if "CUDA" in str(row.device_type):
        category = "kernel"
    elif row.is_user_annotation:
        category = "user"
    elif name.startswith("aten::"):
        category = "aten"
    else:
        category = "cpu"
    shapes = row.input_shapes
    return ProfileOp(
        name=name,
        category=category,
        calls=int(row.count),
        self_ns=float(row.self_cpu_time_total) * 1e3,
        total_ns=float(row.cpu_time_total) * 1e3,
        device_self_ns=float(row.self_device_time_total) * 1e3 if on_device else None,
        device_total_ns=float(row.device_time_total) * 1e3 if on_device else None,
        cpu_mem=int(row.self_cpu_memory_usage),
        device_mem=int(row.self_device_memory_usage) if on_device else None,
        flops=float(row.flops) if row.flops else None,
        shapes=str(shapes) if shapes else None,
    )


def _chrome_trace(prof: Any) -> bytes:
    with tempfile.TemporaryDirectory(prefix="tracker-trace-") as tmp:
        path = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(path))
        return path.read_bytes()
