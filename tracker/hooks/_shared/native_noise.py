"""Drop the known noise that native profiler code prints to fd 2 while we start or stop a profiler.

torch 2.13's kineto prints ``USDT: ... profiler_start`` / ``profiler_stop`` lines, and c10 a warning
about memory allocated before profiling began; TensorFlow's and XLA's profilers print C++ INFO
lines (``I0000 00:00:17.. 123 profiler_session.cc:117] ...``) and absl its preamble. All of them
go straight to file descriptor 2, where no Python logging setting reaches. Around the few calls
that print them, fd 2 goes to a temporary file; what was written there comes back to the real
fd 2 afterwards, byte for byte, minus those known lines, so nothing else (another thread's
output, a warning, a real error) is lost.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

KNOWN_NOISE = re.compile(
    rb"SyncActivityProfilerHandler\.cpp"  # kineto: USDT: ... profiler_start / profiler_stop
    rb"|Memory block of unknown size was allocated before the profiling started"  # c10
    rb"|^I\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+:\d+\]"  # TF/XLA C++ INFO lines (warnings pass)
    rb"|^WARNING: All log messages before"  # absl's preamble
)


@contextlib.contextmanager
def quiet_native_noise() -> Iterator[None]:
    """Inside the block, fd 2 is captured; afterwards every captured line that is not known
    noise is written back to fd 2. Where fd 2 cannot be redirected, the block runs as it is."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real stderr (embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()  # Python's own writes from inside the block land in capture
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = b"".join(line for line in capture.read().splitlines(keepends=True)
                            if not KNOWN_NOISE.search(line))
            with contextlib.suppress(OSError):
                while kept:
                    kept = kept[os.write(2, kept):]


def call_quietly(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` inside ``quiet_native_noise()``."""
    with quiet_native_noise():
        return fn(*args)
