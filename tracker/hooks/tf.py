"""``tracker.hooks.tf.TFLogger``, the documented path of the tf.GradientTape loop logger (it lives in keras/)."""

from .keras.tf import TFLogger

__all__ = ["TFLogger"]
