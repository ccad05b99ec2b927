"""Train a Flax nnx + Optax MLP on synthetic data, logged with tracker.hooks.jax (seconds on CPU).

    python examples/jax_mlp.py          # then: tracker

Logs metrics every step as one packed JAX array (no host sync), gradient norms every 10 steps, the train
step's jaxpr graph with StableHLO, compiled HLO and XLA's cost estimate, the model's module tree,
and a profile of steps 50-54.
"""

from __future__ import annotations

import argparse
import shlex

import jax
import jax.numpy as jnp
import optax
from flax import nnx

import tracker
from tracker.hooks import jax as tj


class MLP(nnx.Module):
    def __init__(self, din: int, width: int, dout: int, rngs: nnx.Rngs) -> None:
        self.hidden = nnx.List([nnx.Linear(din, width, rngs=rngs),
                                nnx.Linear(width, width, rngs=rngs)])
        self.head = nnx.Linear(width, dout, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        for i, layer in enumerate(self.hidden):
            with jax.named_scope(f"hidden{i}"):  # jaxprs carry named scopes, not module names
                x = jax.nn.gelu(layer(x))
        return self.head(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="store file (default ./tracker.db)")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()

    config = {"width": 128, "lr": 3e-3, "batch": 64, "steps": args.steps}
    run = tracker.init(project="jax-mlp", config=config, tags=["example"], db=args.db)
    key_x, key_w = jax.random.split(jax.random.key(0))
    x = jax.random.normal(key_x, (4096, 32))
    y = jnp.sin(x @ jax.random.normal(key_w, (32, 4)))  # a smooth target to regress
    model = MLP(32, config["width"], 4, nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(config["lr"]), wrt=nnx.Param)

    @nnx.jit
    def train_step(model: MLP, optimizer: nnx.Optimizer, xb: jax.Array, yb: jax.Array):
        def loss_fn(model: MLP) -> jax.Array:
            return jnp.mean((model(xb) - yb) ** 2)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        # one array for all the step's metrics: read once per step (see docs/jax.md)
        return tj.pack({"train": {"loss": loss, "rmse": jnp.sqrt(loss)}}), grads

    batch = config["batch"]
    tj.log_graph(run, train_step, model, optimizer, x[:batch], y[:batch])  # traced, not run
    prof = tj.profile(run, steps=5, start=50)
    for step in range(args.steps):
        i = (step * batch) % (len(x) - batch)
        with prof.step(step):
            metrics, grads = train_step(model, optimizer, x[i:i + batch], y[i:i + batch])
        tj.log(run, metrics, step=step)  # never waits: read by a later call once computed
        tj.log_grad_norms(run, grads, step, every=10)
    run.finish()
    print(f"run {run.id} ({run.name}) logged to {run.db_path};"
          f" browse it with: {browse_command(args.db)}")


def browse_command(db: str | None) -> str:
    """The command that opens the app on the store this example logged to."""
    return "tracker" if db is None else f"tracker --db {shlex.quote(db)}"


if __name__ == "__main__":
    main()
