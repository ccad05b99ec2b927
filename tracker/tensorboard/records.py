"""TFRecord framing of event files: masked crc32c, writing records and reading them back safely.

A record is ``uint64 len | masked crc32c(len) | payload | masked crc32c(payload)``, little endian.
google-crc32c is used when installed (C speed); otherwise a table-driven pure-Python crc32c.
"""

from __future__ import annotations

import mmap
import os
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

try:  # optional C implementation: about 2x faster export
    import google_crc32c

    # google-crc32c has its own pure-Python fallback when its C extension is missing: not fast
    _fast_crc32c = google_crc32c.value if google_crc32c.implementation == "c" else None
except ImportError:  # pragma: no cover - exercised by test_records through the fallback directly
    _fast_crc32c = None

_MASK_DELTA = 0xA282EAD8
_Q = struct.Struct("<Q")
_I = struct.Struct("<I")
_QI = struct.Struct("<QI")


def _make_table() -> list[int]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _make_table()


def crc32c_python(data: bytes) -> int:
    """Castagnoli CRC-32 in pure Python (the fallback when google-crc32c is missing)."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


crc32c = _fast_crc32c if _fast_crc32c is not None else crc32c_python
HAVE_FAST_CRC = _fast_crc32c is not None


def masked_crc(data: bytes) -> int:
    """The masked crc32c that TFRecord framing stores."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(payload: bytes) -> bytes:
    """One framed record holding ``payload``."""
    head = _Q.pack(len(payload))
    return head + _I.pack(masked_crc(head)) + payload + _I.pack(masked_crc(payload))


def event_file_name(suffix: str = "") -> str:
    """``events.out.tfevents.<time>.<host>.<pid><suffix>``, the name TensorBoard looks for."""
    host = "".join(c if c.isalnum() or c in "-_." else "_" for c in socket.gethostname()) or "host"
    return f"events.out.tfevents.{int(time.time()):010d}.{host}.{os.getpid()}{suffix}"


class RecordWriter:
    """Appends framed records to one file; buffers and writes in large chunks."""

    def __init__(self, target: Path | BinaryIO, buffer_bytes: int = 1 << 22) -> None:
        """``target``: a path to append to, or a file opened for writing (closed by close())."""
        if isinstance(target, (str, os.PathLike)):
            self._file: BinaryIO = open(target, "ab")  # noqa: SIM115 - closed in close()
        else:
            self._file = target
        self._parts: list[bytes] = []
        self._size = 0
        self._limit = buffer_bytes

    def write(self, payload: bytes) -> None:
        """Frame and buffer one record."""
        self._parts.append(frame(payload))
        self._size += len(payload) + 16
        if self._size >= self._limit:
            self.flush()

    def write_framed(self, data: bytes) -> None:
        """Buffer bytes that are already framed records."""
        self._parts.append(data)
        self._size += len(data)
        if self._size >= self._limit:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered."""
        if self._parts:
            self._file.write(b"".join(self._parts))
            self._parts.clear()
            self._size = 0
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file."""
        self.flush()
        self._file.close()


@dataclass(frozen=True)
class RecordProblem:
    """A record that could not be read: where, and why."""

    path: str
    offset: int
    reason: str


def read_records(
    path: Path, offset: int = 0, problems: list[RecordProblem] | None = None
) -> Iterator[tuple[bytes, int]]:
    """Yield ``(payload, end_offset)`` for each good record of ``path`` from byte ``offset``.

    A record whose payload CRC is wrong is reported in ``problems`` and skipped. A header that is
    damaged or cut short (a file still being written) ends the file: it is reported, and the
    offsets yielded so far say where a later read can pick up.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size <= offset:
            return
        # mapped, not read: a multi-GB event file (images) must not be copied into memory
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield from _records(data, offset, size, path, problems)


def _records(
    data: mmap.mmap, pos: int, end: int, path: Path, problems: list[RecordProblem] | None
) -> Iterator[tuple[bytes, int]]:
    """The records of ``data[pos:end]``; positions are file offsets."""
    unpack_qi, unpack_i = _QI.unpack_from, _I.unpack_from
    check = HAVE_FAST_CRC or end < (8 << 20)  # pure-Python crc of a huge file takes minutes
    while pos < end:
        if end - pos < 12:
            _report(problems, path, pos, "truncated record header (file still being written?)")
            return
        length, len_crc = unpack_qi(data, pos)
        if masked_crc(data[pos : pos + 8]) != len_crc:
            _report(problems, path, pos, "corrupt record header (bad length CRC)")
            return
        start, stop = pos + 12, pos + 12 + length
        if stop + 4 > end:
            _report(problems, path, pos, "truncated record (file still being written?)")
            return
        payload = data[start:stop]
        pos = stop + 4
        if check and masked_crc(payload) != unpack_i(data, stop)[0]:
            _report(problems, path, start, "bad data CRC: record skipped")
            continue
        yield payload, pos


def _report(problems: list[RecordProblem] | None, path: Path, offset: int, reason: str) -> None:
    if problems is not None:
        problems.append(RecordProblem(str(path), offset, reason))
