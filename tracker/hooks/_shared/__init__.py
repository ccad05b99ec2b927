"""What the framework hooks share: the TF/JAX profiler window, xplane parsing, the fd-2 noise filter."""
