"""Framework hooks: capture only, and write through the run contract (``tracker.contract.RunLike``).

Import the one for your framework: ``torch/``, ``keras/`` (with the ``tf.GradientTape`` loop,
also at ``tracker.hooks.tf``), ``jax/``, and the flat ``lightning``, ``transformers`` and
``accelerate`` modules. ``_shared/`` holds what several of them use (the TF/JAX profiler window,
xplane parsing, the fd-2 noise filter). Each imports its own framework and no other.
"""
