"""The framework-neutral profile model: a top-ops table, step times and the raw trace for export."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ProfileOp:
    """One row of the top-ops table. Times in nanoseconds, memory in bytes; None where unknown."""

    name: str
    category: str = ""  # aten | kernel | hlo | tf_op | user ...
    calls: int = 0
    self_ns: float = 0.0
    total_ns: float = 0.0
    device_self_ns: float | None = None
    device_total_ns: float | None = None
    cpu_mem: int | None = None
    device_mem: int | None = None
    flops: float | None = None
    shapes: str | None = None
    module: str | None = None  # hlo_module for XLA ops


@dataclass
class Profile:
    """A profiler capture over some steps.

    ``trace`` holds the raw capture (a torch chrome trace JSON, a JAX/TF ``xplane.pb``) which the
    store keeps compressed; ``trace_format`` names it ('torch_chrome_json' | 'xplane') and
    ``trace_name`` is the host or worker name used by the TensorBoard layouts.
    """

    ops: list[ProfileOp] = field(default_factory=list)
    step_times_ns: list[tuple[int, float]] = field(default_factory=list)  # (step, duration)
    name: str = "profile"
    framework: str = ""
    step_from: int | None = None
    step_to: int | None = None
    duration_ns: float | None = None
    trace: bytes | None = None
    trace_format: str | None = None
    trace_name: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
