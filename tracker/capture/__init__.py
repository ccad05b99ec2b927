"""What a run records besides its metrics: the console (``console``) and system metrics (``system``).

Both are self-contained engines with a sink callback: ``ConsoleCapture`` tees fds 1/2 to the
terminal and hands finished lines to ``sink(lines)``; ``SystemSampler`` samples the host, the
process and NVIDIA GPUs on a thread and hands ``sink({"sys/...": value})`` a dict per sample.
Import the submodules directly; this package imports nothing.
"""
