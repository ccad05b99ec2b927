"""Train a small Keras CNN on synthetic MNIST-like data, logged with TrackerCallback (seconds on CPU).

    python examples/keras_mnist_like.py            # any backend: KERAS_BACKEND=jax|torch|tensorflow
    tracker                                        # browse it

Logs batch and epoch metrics, fit()'s config, weight histograms, the layer graph (and the TF op
graph on the TensorFlow backend) and a profile of batches 20-25.
"""

from __future__ import annotations

import argparse
import shlex
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up INFO lines
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tracker  # noqa: E402
from tracker.hooks.keras import TrackerCallback  # noqa: E402


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """28x28 images whose class is the quadrant (and stroke) holding a bright blob, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.normal(0.0, 0.3, (n, 28, 28, 1)).astype("float32")
    for i, label in enumerate(y):
        r, c = divmod(int(label), 4)
        x[i, 4 + 7 * r: 10 + 7 * r, 2 + 6 * c: 8 + 6 * c, 0] += 1.5
    return x, y


def build_model() -> keras.Model:
    inputs = keras.Input((28, 28, 1), name="image")
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    h = keras.layers.MaxPooling2D(2, name="pool1")(h)
    h = keras.layers.Conv2D(16, 3, activation="relu", name="conv2")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    h = keras.layers.Dropout(0.1, name="drop")(h)
    outputs = keras.layers.Dense(10, name="logits")(h)
    return keras.Model(inputs, outputs, name="small_cnn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="store file (default ./tracker.db)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    config = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": 3e-3}
    run = tracker.init(project="mnist-keras", config=config, tags=["example"], db=args.db)
    x, y = synthetic_digits(4096, seed=0)
    xv, yv = synthetic_digits(512, seed=1)
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(config["lr"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    callback = TrackerCallback(run, log_every=5, histograms=True, profile_batches=(20, 25),
                               op_graph=keras.backend.backend() == "tensorflow")
    model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, validation_data=(xv, yv),
              callbacks=[callback], verbose=2)
    run.finish()
    print(f"run {run.id} ({run.name}) logged to {run.db_path};"
          f" browse it with: {browse_command(args.db)}")


def browse_command(db: str | None) -> str:
    """The command that opens the app on the store this example logged to."""
    return "tracker" if db is None else f"tracker --db {shlex.quote(db)}"


if __name__ == "__main__":
    main()
