"""A Keras callback that logs a model's predictions on a fixed batch as images every N epochs.

    python examples/keras_image_predictions.py --epochs 6 --every 2   # any KERAS_BACKEND
    tracker                                                          # Images tab: 'predictions'

A small convolutional autoencoder learns to denoise synthetic 28x28 digits. ``LogPredictions``
keeps 16 noisy inputs fixed; every ``every`` epochs it predicts them and logs one image per
sample pair (noisy input | reconstruction), tiled into one 4x4 grid, at the step of the epoch's
metrics. Copy the callback into your own code: it needs only ``run.log_image``.
"""

from __future__ import annotations

import argparse
import os
import shlex
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up INFO lines
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tracker  # noqa: E402
from tracker.contract import RunLike  # noqa: E402
from tracker.hooks.keras import TrackerCallback  # noqa: E402


class LogPredictions(keras.callbacks.Callback):
    """Every ``every`` epochs, log ``model.predict(images)`` beside ``images`` under ``key``.

    ``images`` (N,H,W,C) in 0-1 are kept as given; each logged image is a grid of N
    (input | prediction) pairs, captioned with the epoch. The step is the run's last step
    (the epoch's metrics logged by TrackerCallback), so the slider lines up with the charts.
    """

    def __init__(self, run: RunLike, images: np.ndarray, *, every: int = 1,
                 key: str = "predictions") -> None:
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be 1 or more, not {every}")
        self.run, self.images, self.every, self.key = run, images, every, key

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self.every:
            return
        predicted = np.asarray(self.model.predict(self.images, verbose=0))
        pairs = np.concatenate([self.images, predicted], axis=2)  # side by side per sample
        self.run.log_image(self.key, np.clip(pairs, 0.0, 1.0),
                           caption=f"epoch {epoch + 1}: noisy input | reconstruction")


def synthetic_digits(n: int, seed: int) -> np.ndarray:
    """28x28 images in 0-1 holding a bright block in one of ten places."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28, 1), "float32")
    for i, label in enumerate(rng.integers(0, 10, n)):
        r, c = divmod(int(label), 4)
        x[i, 4 + 7 * r: 10 + 7 * r, 2 + 6 * c: 8 + 6 * c, 0] = 1.0
    return x


def build_model() -> keras.Model:
    inputs = keras.Input((28, 28, 1), name="noisy")
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="enc")(inputs)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="mid")(h)
    outputs = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="dec")(h)
    return keras.Model(inputs, outputs, name="denoiser")


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="store file (default ./tracker.db)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--every", type=int, default=2, help="log predictions every N epochs")
    parser.add_argument("--samples", type=int, default=512)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    clean = synthetic_digits(args.samples, seed=1)
    noisy = np.clip(clean + rng.normal(0, 0.3, clean.shape).astype("float32"), 0, 1)
    run = tracker.init(project="keras-images", config={"epochs": args.epochs,
                                                        "every": args.every}, db=args.db)
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    model.fit(noisy, clean, epochs=args.epochs, batch_size=64, verbose=0, callbacks=[
        TrackerCallback(run, histograms=False, graph=False),
        LogPredictions(run, noisy[:16], every=args.every),
    ])
    run.finish()
    print(f"run {run.id} ({run.name}) logged to {run.db_path};"
          f" browse it with: {'tracker' if args.db is None else 'tracker --db ' + shlex.quote(args.db)}")
    return run.id


if __name__ == "__main__":
    main()
