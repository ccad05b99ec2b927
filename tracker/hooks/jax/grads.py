"""Gradient statistics for JAX/Optax steps: the global norm and per-leaf norms, every N steps.

Two ways, with different costs (see docs/jax.md):
- outside ``jit`` (``log_grad_norms``): the norms are one extra small jitted call on the steps that
  log; the arrays go to ``Run.log`` unread, so nothing waits for the device;
- inside ``jit`` (``grad_norms_callback``): a ``jax.debug.callback`` on the steps that log, no change
  to what the step returns, but each firing copies the norms to the host in the middle of the
  step, and the callback runs on an XLA runtime thread. Those values go through a second handle
  on the same run (``tracker.attach``), since ``Run.log`` belongs to the training thread.
"""

from __future__ import annotations

import threading
from typing import Any

import jax
import jax.numpy as jnp

from ...contract import RunLike
from .packed import PackedMetrics, pack
from .tree import path_key


def grad_norms(grads: Any, *, prefix: str = "grad_norm", per_leaf: bool = True) -> dict[str, Any]:
    """``{prefix/global: ‖g‖₂, prefix/<leaf path>: ‖leaf‖₂}`` as JAX scalars; pure, jit-safe.

    Norms are computed in float32 at least, so bf16/fp16 gradients do not overflow.
    """
    leaves = jax.tree_util.tree_flatten_with_path(grads)[0]
    squares = {}
    for path, leaf in leaves:
        x = jnp.asarray(leaf)
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            continue  # integer leaves (step counters) have no gradient
        x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        squares[path_key(path) or "value"] = jnp.sum(jnp.real(x * jnp.conj(x)))
    total = sum(squares.values()) if squares else jnp.zeros((), jnp.float32)
    out = {f"{prefix}/global": jnp.sqrt(total)}
    if per_leaf:
        for key, square in squares.items():
            out[f"{prefix}/{key}"] = jnp.sqrt(square)
    return out


def _norms_and_packed(grads: Any, prefix: str, per_leaf: bool) -> tuple[dict, PackedMetrics]:
    norms = grad_norms(grads, prefix=prefix, per_leaf=per_leaf)
    return norms, pack(norms)  # logged packed: one read for every leaf's norm


_grad_norms_jit = jax.jit(_norms_and_packed, static_argnames=("prefix", "per_leaf"))


def _log_step(run: RunLike, step: int | None) -> int:
    if step is not None:
        return step
    return run.step if run.step is not None else 0


def log_grad_norms(
    run: RunLike,
    grads: Any,
    step: int | None = None,
    *,
    every: int = 1,
    prefix: str = "grad_norm",
    per_leaf: bool = True,
) -> dict[str, Any] | None:
    """Log gradient norms at ``step`` (default: the run's last step) when ``step % every == 0``.

    Call it outside ``jit`` with the grads your step returned. Returns the logged arrays (None on
    the steps in between); it never waits for the device.
    """
    if every < 1:
        raise ValueError(f"every must be a positive integer, not {every!r}")
    step = _log_step(run, step)
    if step % every:
        return None
    norms, packed = _grad_norms_jit(grads, prefix=prefix, per_leaf=per_leaf)
    run.log(packed, step=step)  # type: ignore[arg-type]  # Run.log reads a PackedMetrics itself
    return norms


class _CallbackSink:
    """Where ``jax.debug.callback`` values go: an attached handle on the run, used under a lock."""

    def __init__(self, run: RunLike) -> None:
        import tracker

        self._lock = threading.Lock()
        self.run = tracker.attach(run.id, db=run.db_path)

    def log(self, values: dict[str, Any], step: int) -> None:
        with self._lock:
            self.run.log({k: float(v) for k, v in values.items()}, step=step)

    def flush(self) -> bool:
        with self._lock:
            return self.run.flush()


_sinks: dict[tuple[str, str], _CallbackSink] = {}
_sinks_lock = threading.Lock()


def _sink(run: RunLike) -> _CallbackSink:
    key = (str(run.db_path), run.id)
    with _sinks_lock:
        sink = _sinks.get(key)
        if sink is None or sink.run.finished:
            sink = _sinks[key] = _CallbackSink(run)
        return sink


def grad_norms_callback(
    run: RunLike,
    grads: Any,
    step: Any,
    *,
    every: int = 1,
    prefix: str = "grad_norm",
    per_leaf: bool = True,
) -> None:
    """Inside a jitted step: log gradient norms through ``jax.debug.callback`` every ``every`` steps.

    ``step`` may be a traced integer. The values reach the store within a second (the writer's
    flush interval) or at ``flush_callbacks(run)``.
    """
    if every < 1:
        raise ValueError(f"every must be a positive integer, not {every!r}")
    if run.disabled:
        return
    sink = _sink(run)  # created at trace time, on the caller's thread
    norms = grad_norms(grads, prefix=prefix, per_leaf=per_leaf)

    def emit(step_value: Any, values: dict[str, Any]) -> None:
        sink.log(values, int(step_value))

    if every == 1:
        jax.debug.callback(emit, step, norms)
    else:
        jax.lax.cond(
            step % every == 0,
            lambda: jax.debug.callback(emit, step, norms),
            lambda: None,
        )


def flush_callbacks(run: RunLike) -> bool:
    """Wait for pending ``jax.debug.callback`` calls and write what they logged for ``run``."""
    jax.effects_barrier()
    sink = _sinks.get((str(run.db_path), run.id))
    return True if sink is None else sink.flush()
