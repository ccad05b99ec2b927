"""SQL of logged images: appending encoded images to a run's image series, and reading them back.

An image series is a ``series`` row of kind 'image' (count, first/last step kept as for texts);
its images are rows of ``images`` (schema 3), one per logged image, numbered by ``seq`` in
logging order. A step logged twice keeps both rows; a read of one step gives the later one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np

from ...records import EncodedImage, ImagePoint
from ..backend import ImageItem
from .series_writes import _reserve

_COLUMNS = "step, wall, format, width, height, caption, data"


def append_images(conn: sqlite3.Connection, sid: int, items: Sequence[ImageItem]) -> None:
    """Append encoded images to a series, in logging order."""
    steps = np.array([item.step for item in items], dtype=np.int64)
    seq0 = _reserve(conn, sid, steps, items[-1].wall, None)
    conn.executemany(
        "INSERT INTO images (series_id, step, seq, wall, format, width, height, caption, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(sid, item.step, seq0 + i, item.wall, item.image.format, item.image.width,
          item.image.height, item.image.caption, item.image.data)
         for i, item in enumerate(items)],
    )


def image_keys(conn: sqlite3.Connection, run_id: str) -> list[str]:
    """A run's image keys, sorted."""
    rows = conn.execute(
        "SELECT key FROM series WHERE run_id = ? AND kind = 'image' ORDER BY key", (run_id,))
    return [row[0] for row in rows]


def image_steps(conn: sqlite3.Connection, sid: int) -> list[int]:
    """The steps a series has images at, ascending, each once."""
    rows = conn.execute("SELECT DISTINCT step FROM images WHERE series_id = ? ORDER BY step",
                        (sid,))
    return [row[0] for row in rows]


def image_at(conn: sqlite3.Connection, sid: int, step: int) -> ImagePoint | None:
    """The image of a series at ``step`` (the last logged there), or None."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM images WHERE series_id = ? AND step = ? ORDER BY seq DESC"
        " LIMIT 1", (sid, step)).fetchone()
    return None if row is None else _point(row)


def images_after(conn: sqlite3.Connection, sid: int, count: int, limit: int) -> list[ImagePoint]:
    """Up to ``limit`` images logged after the first ``count`` ones, in logging order."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM images WHERE series_id = ? AND seq >= ? ORDER BY seq LIMIT ?",
        (sid, count, limit))
    return [_point(row) for row in rows]


def _point(row: tuple) -> ImagePoint:
    step, wall, fmt, width, height, caption, data = row
    return ImagePoint(int(step), float(wall), EncodedImage(str(fmt), bytes(data), int(width),
                                                           int(height), caption))
