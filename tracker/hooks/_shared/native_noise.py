"""Drop the known noise that native profiler code prints to fd 2 while we start or stop it.

torch 2.13's kineto prints ``USDT: ... profiler_start`` / ``profiler_stop`` lines, and c10 a warning
about memory allocated before profiling began, straight to file descriptor 2, where no Python
logging setting reaches. Around the few calls that print them, fd 2 goes to a temporary file; what
was written there comes back to the real stderr afterwards, minus those known lines, so nothing
else (another thread's output, a real error) is lost.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

KNOWN_NOISE = (
    "SyncActivityProfilerHandler.cpp",  # USDT: ... profiler_start / profiler_stop
    "Memory block of unknown size was allocated before the profiling started",
)


@contextmanager
def quiet_native_noise() -> Iterator[None]:
    """Inside the block, fd 2 is captured; afterwards every captured line not in KNOWN_NOISE is
    written to the real stderr. Where fd 2 cannot be redirected, the block runs as it is."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        capture = tempfile.TemporaryFile()
        os.dup2(capture.fileno(), 2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)
        os.close(saved)
        capture.seek(0)
        kept = [
            line for line in capture.read().decode(errors="replace").splitlines(keepends=True)
            if not any(noise in line for noise in KNOWN_NOISE)
        ]
        capture.close()
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def call_quietly(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` inside ``quiet_native_noise()``."""
    with quiet_native_noise():
        return fn(*args)
