"""Keras 3 hooks: ``TrackerCallback`` for ``fit()``, and ``TFLogger`` (``.tf``) for tf.GradientTape loops.

    from tracker.hooks.keras import TrackerCallback

Importing this package loads Keras (and so the user's backend), never TensorFlow on the JAX or
torch backends.
"""

from __future__ import annotations

from .callback import TrackerCallback

__all__ = ["TrackerCallback"]
