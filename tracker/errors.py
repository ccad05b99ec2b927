"""The exceptions a user of tracker can see."""

from __future__ import annotations


class TrackerError(Exception):
    """Base class for every error tracker raises on purpose."""


class StoreError(TrackerError):
    """The store file cannot be opened, read or written (path, corruption, lock, permissions)."""


class StoreMissingError(StoreError):
    """No store at the location yet (a server database without tracker's tables): readers
    wait for the first run rather than create one."""


class SchemaTooNewError(StoreError):
    """The store was written by a newer tracker than this one."""


class RunNotFoundError(TrackerError, KeyError):
    """No run with the given id (or unique id prefix / name) exists in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "run not found"


class NoActiveRunError(TrackerError):
    """A module-level call such as tracker.log() came before tracker.init()."""
