"""One voice for what tracker tells the user: warnings on the stdlib logger "tracker", once where asked.

Every message starts with "tracker: ". With no logging configured, Python's last-resort handler
prints the bare message to stderr, which is what a user of a training script sees; a program that
configures ``logging`` routes, formats or silences it like any library's messages
(``logging.getLogger("tracker")``). No handler is added here: one would replace that default.

``StderrHandler`` is that default made explicit, for a process whose root logger has handlers
that do not show on the terminal (pytest's capture is one: tests/conftest.py adds it there).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, TextIO

__all__ = ["PREFIX", "Once", "StderrHandler", "logger", "warn", "warn_once"]

PREFIX = "tracker: "
logger = logging.getLogger("tracker")


if TYPE_CHECKING:
    _StreamHandler = logging.StreamHandler[TextIO]
else:  # subscriptable at run time only from Python 3.11
    _StreamHandler = logging.StreamHandler


class StderrHandler(_StreamHandler):
    """The bare message on the ``sys.stderr`` of the moment it is emitted, as ``logging.lastResort``
    writes it: a stream bound when the handler was made would miss a later swap (pytest's capsys,
    a program's redirect)."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)  # (not StreamHandler's: it would bind a stream)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        """Ignored: the stream is looked up at each emit."""


def warn(message: str) -> None:
    """Tell the user ``tracker: <message>`` (a warning on the "tracker" logger)."""
    logger.warning(PREFIX + message)


class Once:
    """The keys already said: ``warn(key, message)`` reaches the user the first time per key only.

    An instance per owner (a callback, a logger) means once per owner; ``warn_once`` uses the
    module's own instance, once per process.
    """

    def __init__(self) -> None:
        self._said: set[str] = set()
        # Reentrant: a SIGTERM handler (run on the main thread) may warn while the main thread
        # is inside warn() already.
        self._lock = threading.RLock()

    def warn(self, key: str, message: str) -> bool:
        """Warn with ``message`` unless ``key`` was said before; True when it was said now."""
        with self._lock:
            if key in self._said:
                return False
            self._said.add(key)
        warn(message)
        return True


_process = Once()


def warn_once(key: str, message: str) -> bool:
    """Warn with ``message`` the first time this process sees ``key``; True when it was said now."""
    return _process.warn(key, message)
