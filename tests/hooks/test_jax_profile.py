"""tracker.hooks.jax.profile: a jax.profiler window stored as a Profile with top ops and steps."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

import tracker
from tracker.hooks import jax as tj
from tracker.hooks._shared.xplane import parse_xplane


@jax.jit
def train_step(w: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    loss, grad = jax.value_and_grad(lambda w: jnp.mean(jnp.tanh(x @ w) ** 2))(w)
    return w - 0.1 * grad, loss


W, X = jnp.full((64, 64), 0.01), jnp.ones((32, 64))


def _profiles(db: Path, run_id: str) -> list[tracker.Profile]:
    with tracker.open_store(db) as store:
        return [store.profile(info.id) for info in store.profiles(run_id)]


def test_loop_window_starts_at_start_and_stores_steps_ops_and_xplane(db_path: Path) -> None:
    run = tracker.init("jax", db=db_path)
    prof = tj.profile(run, steps=3, start=2, name="warm")
    w = W
    for step in range(8):
        with prof.step(step):
            w, loss = train_step(w, X)
        run.log({"loss": loss}, step=step)
    run.finish()

    (profile,) = _profiles(db_path, run.id)
    assert prof.profile is not None
    assert (profile.name, profile.framework, profile.trace_format) == ("warm", "jax", "xplane")
    assert (profile.step_from, profile.step_to) == (2, 4)
    assert [s for s, _ in profile.step_times_ns] == [2, 3, 4]
    assert all(d > 0 for _, d in profile.step_times_ns)
    assert profile.duration_ns >= sum(d for _, d in profile.step_times_ns)
    assert profile.ops and {o.category for o in profile.ops} == {"hlo"}
    assert {o.module for o in profile.ops} == {"jit_train_step"}
    assert all(o.calls % 3 == 0 for o in profile.ops)  # three profiled steps, nothing else
    assert profile.trace_name and profile.meta["backend"] == "cpu"
    reparsed, _ = parse_xplane(profile.trace)  # the raw capture came back intact
    assert [(o.name, o.calls) for o in reparsed] == [(o.name, o.calls) for o in profile.ops]


def test_context_window_with_annotated_steps_and_a_kept_logdir(db_path: Path, tmp_path: Path) -> None:
    run = tracker.init("jax", db=db_path)
    w = W
    with tj.profile(run, logdir=tmp_path / "raw") as prof:
        for step in (10, 11):
            with prof.step(step):
                w, _ = train_step(w, X)
    run.finish()

    (profile,) = _profiles(db_path, run.id)
    assert [s for s, _ in profile.step_times_ns] == [10, 11]
    kept = list((tmp_path / "raw").glob("plugins/profile/*/*.xplane.pb"))
    assert len(kept) == 1 and kept[0].read_bytes() == profile.trace
    assert kept[0].parent.name == profile.meta["session"]


def test_a_second_profiler_is_skipped_with_a_warning(
    db_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tracker.init("jax", db=db_path)
    with jax.profiler.trace(str(tmp_path)):  # the user's own trace is running
        with tj.profile(run, name="p") as prof:
            with prof.step(0):
                train_step(W, X)
    assert "tracker: profile 'p' skipped" in caplog.text
    run.finish()
    assert prof.profile is None and _profiles(db_path, run.id) == []


def test_steps_must_be_positive(db_path: Path) -> None:
    run = tracker.init("jax", db=db_path)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        tj.profile(run, steps=0)
    run.finish()


def test_disabled_run_profiles_nothing() -> None:
    run = tracker.DisabledRun("jax")
    with tj.profile(run, steps=1) as prof:
        with prof.step(0):
            train_step(W, X)
    assert prof.profile is None
