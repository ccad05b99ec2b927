"""Reads a JAX or TensorFlow ``xplane.pb`` capture into top-ops rows and step times, without TF.

The parser is ``jax.profiler.ProfileData`` (it reads TensorFlow's xplanes too), imported only when a
capture is parsed: whoever calls this has just run the JAX or TF profiler, so JAX is installed
(TensorFlow itself imports it) and usually already loaded.

Rows:
- XLA ops (events with an ``hlo_op`` stat) grouped by ``(hlo_module, hlo_op)``: category 'hlo',
  ``module`` = the HLO module (``jit_train_step``).
- TensorFlow kernels (``tf_Compute`` line events named ``<node>:<OpType>``, or device events with
  a ``tf_op`` stat of that form) grouped by ``OpType``: category 'tf_op'.
When a device plane (``/device:GPU:0``...) holds op events, those rows come from the device planes
only (the host side then holds launches, not the work); their times are set both as ``self_ns`` /
``total_ns`` (so the table sorts by where time went) and as ``device_self_ns`` /
``device_total_ns``.

Step times come from step annotations (``jax.profiler.StepTraceAnnotation``,
``tf.profiler.experimental.Trace(..., step_num=)``): events with a ``step_num`` stat.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ...profile import ProfileOp

HLO, TF_OP = "hlo", "tf_op"
XLA_OPS = "XLA Ops"


@dataclass
class _Event:
    """One op event of a line, with the grouping key it counts under."""

    key: tuple[str, str, str]  # (category, module, name)
    start: float
    end: float


def parse_xplane(data: bytes) -> tuple[list[ProfileOp], list[tuple[int, float]]]:
    """Parse the bytes of a ``<host>.xplane.pb`` into (top-ops rows, [(step, duration_ns)]).

    Rows are sorted by self time, largest first; steps by step number. An empty or foreign
    capture gives empty lists.

    Raises:
        ValueError: the bytes are not a serialized XSpace.
    """
    from jax.profiler import ProfileData  # lazy: see the module docstring

    try:
        space = ProfileData.from_serialized_xspace(bytes(data))
    except Exception as exc:  # the C++ parser raises a plain RuntimeError/ValueError
        raise ValueError(f"not an xplane capture: {exc}") from None
    host_lines: list[list[_Event]] = []
    device_lines: list[list[_Event]] = []
    spans: dict[int, tuple[float, float]] = {}
    for plane in space.planes:
        on_device = plane.name.startswith("/device:")
        lines = list(plane.lines)
        if on_device and any(line.name == XLA_OPS for line in lines):
            # Derived 'XLA Ops' line present: it holds each op once; the streams repeat them
            # as kernels.
            lines = [line for line in lines if line.name == XLA_OPS]
        for line in lines:
            tf_line = line.name.startswith("tf_Compute")
            events: list[_Event] = []
            for event in line.events:
                stats = _stats(event.stats)
                start = float(event.start_ns)
                end = start + float(event.duration_ns)
                step = stats.get("step_num")
                if step is not None and not on_device:
                    _widen(spans, int(step), start, end)
                    continue
                key = _op_key(event.name, stats, tf_line)
                if key is not None:
                    events.append(_Event(key, start, end))
            if events:
                (device_lines if on_device else host_lines).append(events)
    rows = _rows(device_lines, device=True) if device_lines else _rows(host_lines, device=False)
    steps = [(step, end - start) for step, (start, end) in sorted(spans.items())]
    return rows, steps


def _stats(stats: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    # Iterating pairs rather than dict(event.stats): the latter warns on newer jaxlibs.
    return {name: value for name, value in stats}


def _op_key(name: str, stats: dict[str, Any], tf_line: bool) -> tuple[str, str, str] | None:
    """The (category, module, name) an event counts under, or None for runtime bookkeeping."""
    hlo_op = stats.get("hlo_op")
    if hlo_op:
        return (HLO, str(stats.get("hlo_module") or ""), str(hlo_op))
    tf_op = stats.get("tf_op")
    if isinstance(tf_op, str) and _tf_op_type(tf_op):
        return (TF_OP, "", _tf_op_type(tf_op))
    if tf_line:
        op_type = _tf_op_type(name)
        if op_type:
            return (TF_OP, "", op_type)
    return None


def _tf_op_type(name: str) -> str:
    """'dense/MatMul:MatMul' -> 'MatMul'; '' for names that are not '<node>:<OpType>'."""
    if "::" in name or name.count(":") != 1:  # C++ scopes ('ExecutorState::Process') are not ops
        return ""
    node, op_type = name.split(":")
    return op_type if node and op_type and " " not in op_type else ""


def _widen(spans: dict[int, tuple[float, float]], step: int, start: float, end: float) -> None:
    # One step can be annotated on several threads or hosts: its time is the union of them.
    old = spans.get(step)
    spans[step] = (start, end) if old is None else (min(old[0], start), max(old[1], end))


def _rows(lines: list[list[_Event]], *, device: bool) -> list[ProfileOp]:
    """Group op events into rows; self time = duration minus op events nested inside it."""
    acc: dict[tuple[str, str, str], list[float]] = {}  # key -> [calls, self, total]
    for events in lines:
        events.sort(key=lambda e: (e.start, -e.end))
        stack: list[tuple[_Event, list[float]]] = []  # open events with [child time]
        for event in events:
            while stack and stack[-1][0].end <= event.start:
                _close(acc, *stack.pop())
            if stack:
                stack[-1][1][0] += event.end - event.start
            stack.append((event, [0.0]))
        while stack:
            _close(acc, *stack.pop())
    rows = []
    for (category, module, name), (calls, self_ns, total_ns) in acc.items():
        rows.append(
            ProfileOp(
                name=name,
                category=category,
                calls=int(calls),
                self_ns=self_ns,
                total_ns=total_ns,
                device_self_ns=self_ns if device else None,
                device_total_ns=total_ns if device else None,
                module=module or None,
            )
        )
    rows.sort(key=lambda r: (-r.self_ns, r.name))
    return rows


def _close(acc: dict[tuple[str, str, str], list[float]], event: _Event, child: list[float]) -> None:
    total = event.end - event.start
    row = acc.setdefault(event.key, [0, 0.0, 0.0])
    row[0] += 1
    row[1] += max(total - child[0], 0.0)
    row[2] += total
