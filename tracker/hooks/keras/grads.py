"""Gradients of a Keras model's loss on one sample batch (Keras hands callbacks none of its own)."""

from __future__ import annotations

from typing import Any

import keras

BACKENDS = ("tensorflow", "torch")


def sample_gradients(model: Any, x: Any, y: Any) -> list[tuple[Any, Any]]:
    """(variable, gradient) for each trainable weight; the gradient is None where unconnected.

    One forward and backward pass in inference mode (dropout off); the model and its
    optimizer are left as they were.

    Raises:
        ValueError: the backend is not TensorFlow or torch.
    """
    backend = keras.backend.backend()
    variables = list(model.trainable_weights)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            y_pred = model(x, training=False)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
        grads = tape.gradient(loss, [v.value for v in variables])
    elif backend == "torch":
        import torch

        x, y = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=False), training=False)
        # autograd.grad, not backward(): the parameters' .grad stay as the trainer left them
        grads = torch.autograd.grad(loss, [v.value for v in variables], allow_unused=True)
    else:
        raise ValueError(
            f"gradient histograms need the tensorflow or torch backend, not {backend}"
        )
    return list(zip(variables, grads))
