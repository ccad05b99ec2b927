"""Bounded inflation of the zlib blobs the store keeps (graphs' raw forms, profiles' traces).

A store file can come from anywhere (copied, shared, edited with the sqlite3 shell), so its blobs
are data: one that is not zlib, or a 1.5 MB zlib bomb that would inflate to gigabytes, becomes a
one-line ``DamagedBlobError`` instead of a traceback or an exhausted memory.
"""

from __future__ import annotations

import zlib

from ..backend import DamagedBlobError

# The largest inflated blob read back. Real captures stay far below (a long torch trace is tens
# of MB); read at call time so a test can lower it.
MAX_INFLATED_BYTES = 512 << 20


def inflate(blob: bytes, what: str) -> bytes:
    """The inflated ``blob``; ``what`` names it in the error ("profile 7's trace")."""
    limit = MAX_INFLATED_BYTES
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(blob, limit + 1)  # never more than limit + 1 bytes in memory
    except zlib.error as exc:
        raise DamagedBlobError(f"{what} is damaged (not zlib data: {exc})") from None
    if len(data) > limit:
        raise DamagedBlobError(f"{what} inflates past {limit >> 20} MiB; it is not read")
    if not inflater.eof:
        raise DamagedBlobError(f"{what} is damaged (its zlib data is cut short)")
    return data
