"""Reads of a run's logged images (a part of ``Store``): keys, the steps of a key, one image."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .records import EncodedImage, ImagePoint
from .store import describe_error, images_sql

_T = TypeVar("_T")
EXPORT_PAGE = 64  # images read at a time by ``images_after`` callers that page (the exporter)


class ImageReads:
    """Image reads; mixed into ``Store``."""

    conn: sqlite3.Connection
    path: Path

    def _sid(self, run_id: str, key: str, kind: str) -> int | None:
        raise NotImplementedError

    def image_keys(self, run_id: str) -> list[str]:
        """The run's image keys, sorted."""
        return self._read(lambda: images_sql.image_keys(self.conn, run_id))

    def image_steps(self, run_id: str, key: str) -> list[int]:
        """The steps ``key`` has an image at, ascending (none when the run has no such key)."""
        sid = self._sid(run_id, key, "image")
        return [] if sid is None else self._read(lambda: images_sql.image_steps(self.conn, sid))

    def image(self, run_id: str, key: str, step: int) -> EncodedImage | None:
        """The image of ``key`` at ``step`` (the last one logged there), or None."""
        point = self.image_point(run_id, key, step)
        return None if point is None else point.image

    def image_point(self, run_id: str, key: str, step: int) -> ImagePoint | None:
        """``image`` with its step and wall time."""
        sid = self._sid(run_id, key, "image")
        if sid is None:
            return None
        return self._read(lambda: images_sql.image_at(self.conn, sid, step))

    def images_after(self, run_id: str, key: str, count: int,
                     limit: int = EXPORT_PAGE) -> list[ImagePoint]:
        """Up to ``limit`` images logged after the first ``count`` ones, in logging order."""
        sid = self._sid(run_id, key, "image")
        if sid is None:
            return []
        return self._read(lambda: images_sql.images_after(self.conn, sid, count, limit))

    def _read(self, read: Callable[[], _T]) -> _T:
        try:
            return read()
        except sqlite3.Error as exc:
            raise describe_error(exc, self.path) from None
