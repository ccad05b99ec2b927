"""Rows into a PostgreSQL table with ``COPY ... FROM STDIN (FORMAT BINARY)``: from Python rows, or
packed straight from numpy columns (no Python object per value).

COPY is the server's bulk path: one statement for any number of rows, parsed once, values sent in
their binary form. Table and column names here are the store's own constants, never data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

# The file format: signature, flags, header extension length; each row: field count, then per
# field its length and bytes (big-endian); the trailer is a field count of -1.
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_TRAILER = b"\xff\xff"
_NUMPY_TYPES = {"int8": ">i8", "int4": ">i4", "float8": ">f8"}


def _statement(table: str, columns: Sequence[str]) -> str:
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"


def copy_rows(conn: Any, table: str, columns: Sequence[tuple[str, str]],
              rows: Iterable[Sequence[Any]]) -> None:
    """``rows`` (tuples in ``columns`` order; None is NULL) into ``table``; ``columns`` are
    (name, PostgreSQL type) pairs."""
    with conn.cursor() as cur, cur.copy(_statement(table, [c for c, _ in columns])) as copy:
        copy.set_types([t for _, t in columns])
        for row in rows:
            copy.write_row(row)


def copy_columns(conn: Any, table: str, columns: Sequence[tuple[str, str, np.ndarray]]) -> None:
    """Numpy columns of one length (no NULLs; int8, int4 and float8 only) into ``table``, packed
    as one buffer; ``columns`` are (name, PostgreSQL type, values)."""
    rows = len(columns[0][2])
    if not rows:
        return
    layout: list[tuple[str, str]] = [("fields", ">i2")]
    for i, (_, pg_type, _) in enumerate(columns):
        layout += [(f"len{i}", ">i4"), (f"v{i}", _NUMPY_TYPES[pg_type])]
    packed = np.empty(rows, dtype=np.dtype(layout))
    packed["fields"] = len(columns)
    for i, (_, pg_type, values) in enumerate(columns):
        if len(values) != rows:
            raise ValueError("columns of different lengths")
        packed[f"len{i}"] = np.dtype(_NUMPY_TYPES[pg_type]).itemsize
        packed[f"v{i}"] = values
    with conn.cursor() as cur, cur.copy(_statement(table, [c for c, _, _ in columns])) as copy:
        copy.write(_SIGNATURE + packed.tobytes() + _TRAILER)
