"""Gradient norms for JAX/Optax steps, logged outside jit or from inside it via a debug callback."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tracker
from tracker.hooks import jax as tj

PARAMS = {"dense": {"kernel": jnp.arange(12.0).reshape(3, 4) / 10, "bias": jnp.ones(4)},
          "scale": jnp.array(2.0)}
X = jnp.linspace(-1.0, 1.0, 15).reshape(5, 3)


def loss_fn(params: dict, x: jax.Array) -> jax.Array:
    out = (x @ params["dense"]["kernel"] + params["dense"]["bias"]) * params["scale"]
    return jnp.mean(out**2)


def _series(db: Path, run_id: str) -> dict[str, tuple[list[int], list[float]]]:
    with tracker.open_store(db) as store:
        out = {}
        for key in store.keys(run_id):
            s = store.series(run_id, key.key)
            out[key.key] = (s.steps.tolist(), s.values.tolist())
        return out


def test_norms_match_numpy_and_optax() -> None:
    grads = jax.grad(loss_fn)(PARAMS, X)
    norms = jax.jit(tj.grad_norms)(grads)
    leaves = {"dense/kernel": grads["dense"]["kernel"], "dense/bias": grads["dense"]["bias"],
              "scale": grads["scale"]}
    assert set(norms) == {"grad_norm/global"} | {f"grad_norm/{k}" for k in leaves}
    for key, leaf in leaves.items():
        assert float(norms[f"grad_norm/{key}"]) == pytest.approx(np.linalg.norm(np.ravel(leaf)))
    assert float(norms["grad_norm/global"]) == pytest.approx(float(optax.tree.norm(grads)))
    assert set(tj.grad_norms(grads, prefix="g", per_leaf=False)) == {"g/global"}


def test_log_grad_norms_outside_jit_every_n_steps(db_path: Path) -> None:
    opt = optax.adam(1e-2)

    @jax.jit
    def step(params: dict, state: optax.OptState) -> tuple:
        loss, grads = jax.value_and_grad(loss_fn)(params, X)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss, grads

    run = tracker.init("jax", db=db_path)
    params, state = PARAMS, opt.init(PARAMS)
    expected, kernels = {}, {}
    for i in range(5):
        params, state, loss, grads = step(params, state)
        run.log({"loss": loss}, step=i)
        logged = tj.log_grad_norms(run, grads, every=2)  # step: the run's last step
        assert (logged is None) == (i % 2 == 1)
        expected[i] = float(optax.tree.norm(grads))
        kernels[i] = float(np.linalg.norm(np.ravel(grads["dense"]["kernel"])))
    run.finish()

    series = _series(db_path, run.id)
    steps, values = series["grad_norm/global"]
    assert steps == [0, 2, 4]
    assert values == pytest.approx([expected[0], expected[2], expected[4]], rel=1e-5)
    assert series["grad_norm/dense/kernel"][0] == [0, 2, 4]
    assert series["grad_norm/dense/kernel"][1] == pytest.approx([kernels[i] for i in (0, 2, 4)],
                                                                rel=1e-5)


def test_callback_inside_jit_logs_on_due_steps(db_path: Path) -> None:
    run = tracker.init("jax", db=db_path)

    @jax.jit
    def step(params: dict, i: jax.Array) -> tuple:
        loss, grads = jax.value_and_grad(loss_fn)(params, X)
        tj.grad_norms_callback(run, grads, i, every=3, per_leaf=False)
        return jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads), loss

    params, norms = PARAMS, {}
    for i in range(7):
        norms[i] = float(optax.tree.norm(jax.grad(loss_fn)(params, X)))
        params, _ = step(params, jnp.int32(i))
    assert tj.flush_callbacks(run)
    run.finish()

    steps, values = _series(db_path, run.id)["grad_norm/global"]
    assert steps == [0, 3, 6]
    assert values == pytest.approx([norms[0], norms[3], norms[6]], rel=1e-5)


def test_every_must_be_positive(db_path: Path) -> None:
    run = tracker.init("jax", db=db_path)
    with pytest.raises(ValueError, match="every must be a positive integer"):
        tj.log_grad_norms(run, PARAMS, 0, every=0)
    run.finish()
