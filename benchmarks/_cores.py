"""Pin a benchmark process to its first N cores (``--cores``), before any framework starts threads.

On one core every thread of ours (the run's writer, watch()'s worker) shares the core with the
training, so an overhead measured there counts all of our CPU; and on this shared 2-core machine
one core removes the thread-placement luck that makes TensorFlow fits bimodal (1.3 s or 2.0 s for
the same CPU time).
"""

from __future__ import annotations

import os


def pin(cores: int) -> str:
    """Restrict this process (and the threads it starts) to ``cores`` CPUs; 0 leaves it alone.

    Returns a phrase for the report, e.g. '1 of 2 cores'.
    """
    available = sorted(os.sched_getaffinity(0))
    if cores <= 0 or cores >= len(available):
        return f"all {len(available)} cores"
    os.sched_setaffinity(0, available[-cores:])  # the last ones: the first often takes interrupts
    return f"{cores} of {len(available)} cores"
