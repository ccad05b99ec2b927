"""The export's output folder, written without ever following a link that someone put inside it.

OUT is often shared (a team's TensorBoard logdir), so anyone may have left a symbolic link where
the exporter is about to write. Every folder below OUT is opened one part at a time by file
descriptor, refusing links (``O_NOFOLLOW``), and every later operation names a file relative to
that descriptor, so a link swapped in halfway cannot redirect it. Files are created exclusively
(``O_CREAT | O_EXCL``, which never follows a link) under a temporary name and renamed into place,
so a reader (TensorBoard, or the next export) never sees half a file under a real name; removals
unlink a name, never what a link points at. OUT itself is the user's own choice and may be a link.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import TrackerError

TEMP_PREFIX = ".tracker-export-"  # no 'tfevents' in it: TensorBoard never reads a temporary file
TEMP_SUFFIX = ".tmp"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BY_FD = os.open in os.supports_dir_fd and os.rename in os.supports_dir_fd


class UnsafeOutputError(TrackerError):
    """Something in the output folder is a link (or not what the export left there)."""


def is_temp(name: str) -> bool:
    """True for the temporary names this module creates."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


class Folder:
    """One folder at or below OUT, held open; names given to its methods are single parts."""

    def __init__(self, fd: int | None, path: Path) -> None:
        self.fd = fd  # None where the platform has no *at() calls: paths are used instead
        self.path = path

    @classmethod
    def open_root(cls, path: Path) -> Folder:
        """OUT itself (created by the caller), following a link only here."""
        if not _BY_FD:
            return cls(None, path)
        try:
            return cls(os.open(path, os.O_RDONLY | _DIRECTORY | _CLOEXEC), path)
        except OSError as exc:
            raise TrackerError(f"cannot open {path}: {exc.strerror}") from None

    def close(self) -> None:
        """Release the folder's descriptor."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _at(self, name: str) -> tuple[str, int | None]:
        """(name, dir_fd) for an os call: relative to the descriptor, or a full path without one."""
        if name in ("", ".", "..") or "/" in name or os.sep in name:
            raise UnsafeOutputError(f"refusing the path part {name!r} under {self.path}")
        return (name, self.fd) if self.fd is not None else (str(self.path / name), None)

    def sub(self, parts: Iterable[str], create: bool = True) -> Folder:
        """The folder ``parts`` below this one (made when missing), every part checked not to be
        a link; the caller closes it."""
        current = self
        try:
            for part in parts:
                name, dir_fd = current._at(part)
                if create:
                    try:
                        os.mkdir(name, 0o755, dir_fd=dir_fd)
                    except FileExistsError:
                        pass
                nxt = Folder(current._open_dir(name, dir_fd), current.path / part)
                if current is not self:
                    current.close()
                current = nxt
        except BaseException:
            if current is not self:
                current.close()
            raise
        return current if current is not self else Folder(self._dup(), self.path)

    def _open_dir(self, name: str, dir_fd: int | None) -> int | None:
        where = self.path / os.path.basename(name)
        if self.fd is None:
            if os.path.islink(name) or not os.path.isdir(name):
                raise _refused(where)
            return None
        try:
            return os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise _refused(where) from None
            raise

    def _dup(self) -> int | None:
        return os.dup(self.fd) if self.fd is not None else None

    def names(self) -> list[str]:
        """The names in this folder (empty when it cannot be listed)."""
        try:
            return os.listdir(self.fd if self.fd is not None else self.path)
        except OSError:
            return []

    def kind(self, name: str) -> str | None:
        """'file', 'dir', 'link' or 'other' for a name here (None when missing); never follows."""
        path, dir_fd = self._at(name)
        try:
            mode = os.stat(path, dir_fd=dir_fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(mode):
            return "link"
        return "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"

    def create_temp(self) -> tuple[str, BinaryIO]:
        """A new, empty temporary file here, created exclusively: (its name, open for writing)."""
        while True:
            name = f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"
            path, dir_fd = self._at(name)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
            try:
                fd = os.open(path, flags, 0o644, dir_fd=dir_fd)
            except FileExistsError:
                continue
            return name, os.fdopen(fd, "wb")

    def write_file(self, name: str, chunks: Iterable[bytes]) -> None:
        """Write ``name`` whole or not at all: a temporary file renamed over it when complete."""
        temp, file = self.create_temp()
        try:
            with file:
                for chunk in chunks:
                    file.write(chunk)
            self.rename(temp, name)
        except BaseException:
            self.remove(temp)
            raise

    def rename(self, source: str, target: str) -> None:
        """Rename ``source`` to ``target`` here (a link at ``target`` is replaced, not followed)."""
        src, src_fd = self._at(source)
        dst, dst_fd = self._at(target)
        os.replace(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)

    def remove(self, name: str) -> None:
        """Unlink ``name`` (a link itself, never its target); no error when it is gone."""
        path, dir_fd = self._at(name)
        try:
            os.unlink(path, dir_fd=dir_fd)
        except FileNotFoundError:
            pass

    def remove_dir(self, name: str) -> bool:
        """Remove the empty folder ``name``; False when it is not empty or not there."""
        path, dir_fd = self._at(name)
        try:
            os.rmdir(path, dir_fd=dir_fd)
        except OSError:
            return False
        return True

    def read_file(self, name: str) -> bytes | None:
        """The bytes of the regular file ``name`` (None when missing); a link is refused."""
        path, dir_fd = self._at(name)
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK | _CLOEXEC, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refused(self.path / name, "file") from None
            raise
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UnsafeOutputError(f"{self.path / name} is not a regular file; remove it")
            return file.read()

    def open_lock(self, name: str) -> int:
        """A descriptor on the lock file ``name`` (created when missing, a link refused)."""
        path, dir_fd = self._at(name)
        flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | os.O_NONBLOCK | _CLOEXEC
        try:
            fd = os.open(path, flags, 0o644, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refused(self.path / name, "file") from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UnsafeOutputError(f"{self.path / name} is not a regular file; remove it")
        return fd

    def walk(self) -> Iterator[tuple[Folder, list[str]]]:
        """(folder, its file names) for this folder and every folder below it, links not
        followed; each yielded folder is closed once the next one is asked for."""
        stack = [self.sub([], create=False)]
        while stack:
            folder = stack.pop()
            try:
                files: list[str] = []
                subfolders: list[str] = []
                for name in sorted(folder.names()):
                    kind = folder.kind(name)
                    (subfolders if kind == "dir" else files).append(name)
                for name in reversed(subfolders):
                    try:
                        stack.append(folder.sub([name], create=False))
                    except (UnsafeOutputError, OSError):
                        continue  # swapped for a link meanwhile, or gone: not ours to walk
                yield folder, files
            finally:
                folder.close()


def _refused(path: Path, wanted: str = "folder") -> UnsafeOutputError:
    what = "a symbolic link" if wanted == "file" else "a symbolic link or not a folder"
    return UnsafeOutputError(f"{path} is {what}; the export never goes through a link: remove it,"
                             " or export into another folder")
