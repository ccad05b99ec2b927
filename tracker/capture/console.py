"""Console capture: stdout and stderr at the file-descriptor level, teed to the terminal unchanged
and handed to a sink as lines (stream, time, step, text).

How it works: at ``start()`` fds 1 and 2 are pointed (``dup2``) at a pipe each (a pty each where
the original is a terminal, so ``isatty()``, colours and the window size stay what they were).
A small relay *process* (``relay.py``, standard library only) drains the pipes, writes every byte
to the original fds and sends finished lines back here, where a thread stamps them with the run's
step and calls the sink. Python's ``print``, C/C++ code writing to fd 1/2 (XLA, TensorFlow, CUDA)
and child processes all land in the same pipes.

Why a process and not a thread: a reader thread needs the GIL. C code that prints while holding
the GIL fills the pipe (64 KiB..1 MiB) and then waits for a reader that waits for the GIL: a
deadlock. And when the program dies (abort, segfault, kill -9) a thread dies with it, taking the
last output, usually the error message, with it. The relay is immune to both.
"""

from __future__ import annotations

import atexit
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from .. import notices
from . import relay as _relay

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ConsoleCapture",
    "ConsoleLine",
    "Stream",
]

Stream = Literal["stdout", "stderr"]
ConsoleSink = Callable[[list["ConsoleLine"]], None]

DEFAULT_MAX_BYTES = 100_000_000  # per run: 100 MB of stored line text
DEFAULT_MAX_LINE_BYTES = 64 * 1024  # an unfinished line longer than this is stored in pieces
DEFAULT_QUEUE_BYTES = 8 * 1024 * 1024  # lines waiting for the sink; beyond it they are dropped
_PIPE_SIZE = 1 << 20  # fewer, larger relay wake-ups; the kernel's default is 64 KiB
_FDS: dict[str, int] = {"stdout": 1, "stderr": 2}


@dataclass(frozen=True, slots=True)
class ConsoleLine:
    """One line of console output: its final state, decoded as UTF-8 (bad bytes replaced)."""

    stream: Stream
    time: float  # unix time when the relay read the end of the line
    step: int | None  # the run's step when the line reached this process
    text: str  # without the newline; escapes and control characters kept as printed


@dataclass
class _Channel:
    stream: Stream
    fd: int  # 1 or 2
    saved: int  # a duplicate of the original fd: where output goes back at stop()
    read_fd: int  # this process's copy of the pipe's read side, drained if the relay dies
    write_ident: tuple[int, int, int]  # (st_dev, st_ino, st_rdev) of the pipe's write side
    tty: bool


# One capture per process: fds 1 and 2 exist once.
_slot_lock = threading.Lock()
_active: ConsoleCapture | None = None
_hooks_installed = False


class ConsoleCapture:
    """Capture fds 1/2 from ``start()`` to ``stop()``; ``sink(lines)`` gets them in batches.

    The sink is called on a thread of this module, as soon as lines are complete (so a process
    killed with -9 loses at most the lines of the last moment). A slow sink never slows the
    program: lines it cannot take in time are dropped, counted and reported in a marker line.
    """

    def __init__(
        self,
        sink: ConsoleSink,
        *,
        step_getter: Callable[[], int | None] | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        streams: Sequence[Stream] = ("stdout", "stderr"),
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
    ) -> None:
        for stream in streams:
            if stream not in _FDS:
                raise ValueError(f"unknown stream {stream!r}: use 'stdout' and/or 'stderr'")
        self._sink = sink
        self._step_getter = step_getter
        self._max_bytes = max(0, int(max_bytes))
        self._streams = tuple(dict.fromkeys(streams))
        self._max_line_bytes = max(16, int(max_line_bytes))
        self._queue_bytes = max(1024, int(queue_bytes))
        self._state = "new"  # new -> running -> stopping -> stopped; "forked" in a child
        self._pid = -1
        self._lock = threading.RLock()  # reentrant: stop() may run in a signal handler
        self._cond = threading.Condition(threading.Lock())
        self._synced: set[str] = set()
        self._relay_gone = False
        self._storing = True
        self._channels: list[_Channel] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines_r = -1
        self._token = b""
        self._receiver: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether fds 1/2 are being captured by this object now."""
        return self._state == "running" and self._pid == os.getpid()

    @property
    def relay_pid(self) -> int | None:
        """The relay process's pid while capturing (for diagnosis)."""
        return self._proc.pid if self._proc is not None else None

    # -- start ---------------------------------------------------------------------------------

    def start(self) -> bool:
        """Begin capturing; False (with a notice where useful) when nothing could be captured.

        Output printed before this call is not claimed: Python's and C's stdio buffers are
        flushed to the terminal first.
        """
        global _active
        if os.name != "posix":
            notices.warn_once("console-posix", "console capture needs Linux or macOS; it is off")
            return False
        with _slot_lock:
            if self._state != "new":
                return self.running
            if _active is not None:
                notices.warn_once(
                    "console-twice",
                    "console capture is already on in this process (another run); "
                    "this run does not capture the console",
                )
                return False
            _active = self
        try:
            started = self._start()
        except BaseException:
            self._release_slot()
            raise
        if not started:
            self._release_slot()
        return started

    def _start(self) -> bool:
        executable = sys.executable
        if not executable:
            notices.warn_once(
                "console-executable",
                "console capture needs sys.executable to start its relay; it is off",
            )
            return False
        _flush_stdio()
        opened: list[tuple[_Channel, int]] = []
        lines_r = lines_w = -1
        try:
            for stream in self._streams:
                fd = _FDS[stream]
                try:
                    os.fstat(fd)
                except OSError:
                    continue  # closed: nothing to capture
                opened.append(_open_channel(stream, fd))
            if not opened:
                return False
            lines_r, lines_w = os.pipe()
            self._token = b"\0tracker-sync-" + secrets.token_hex(8).encode() + b"\0"
            by_stream = {ch.stream: ch for ch, _ in opened}
            args = [
                executable, "-I", "-S", _relay.__file__,
                str(lines_w), self._token.hex(), str(self._max_bytes),
                str(self._max_line_bytes), str(self._queue_bytes),
                *(f"{ch.stream}:{ch.read_fd}:{ch.fd}:{int(ch.tty)}" for ch, _ in opened),
            ]
            out = by_stream.get("stdout")
            err = by_stream.get("stderr")
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out.saved if out else subprocess.DEVNULL,
                stderr=err.saved if err else None,
                pass_fds=(lines_w, *(ch.read_fd for ch, _ in opened)),
                close_fds=True,
            )
        except OSError as err:
            for ch, write_fd in opened:
                _close(ch.saved, ch.read_fd, write_fd)
            _close(lines_r, lines_w)
            notices.warn_once("console-start", f"console capture could not start ({err}); it is off")
            return False
        os.close(lines_w)
        self._lines_r = lines_r
        # Only now point fds 1/2 at the pipes: the relay exists to drain them.
        for ch, write_fd in opened:
            os.dup2(write_fd, ch.fd)
            os.close(write_fd)
        self._channels = [ch for ch, _ in opened]
        self._pid = os.getpid()
        self._state = "running"
        _install_process_hooks()
        self._receiver = threading.Thread(
            target=self._receive, name="tracker-console", daemon=True
        )
        self._receiver.start()
        return True

    # -- lines from the relay ------------------------------------------------------------------

    def _receive(self) -> None:
        header = _relay.HEADER
        size = header.size
        buf = bytearray()
        done = False
        while True:
            try:
                data = os.read(self._lines_r, 1 << 16)
            except InterruptedError:
                continue
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            lines: list[tuple[int, float, bytes]] = []
            synced: list[str] = []
            pos = 0
            while len(buf) - pos >= size:
                kind, when, n = header.unpack_from(buf, pos)
                if len(buf) - pos - size < n:
                    break
                payload = bytes(buf[pos + size : pos + size + n])
                pos += size + n
                if kind == _relay.SYNC:
                    synced.append(payload.decode())
                elif kind == _relay.DONE:
                    done = True
                else:
                    lines.append((kind, when, payload))
            del buf[:pos]
            if lines and self._storing:
                self._deliver(lines)
            if synced or done:
                with self._cond:
                    self._synced.update(synced)
                    self._cond.notify_all()
        os.close(self._lines_r)
        if self._proc is not None:
            self._proc.wait()  # reap it
        with self._cond:
            self._relay_gone = True
            self._cond.notify_all()
        if not done:
            self._relay_died()

    def _deliver(self, raw: list[tuple[int, float, bytes]]) -> None:
        step = self._current_step()
        batch = [
            ConsoleLine("stdout" if kind == _relay.LINE_STDOUT else "stderr", when, step, text)
            for kind, when, payload in raw
            for text in payload.decode("utf-8", "replace").split("\n")
        ]
        try:
            self._sink(batch)
        except Exception as err:  # the sink's owner reports its own failures; never kill the thread
            notices.warn_once(
                "console-sink", f"console capture: storing lines failed ({err!r}); lines are lost"
            )

    def _current_step(self) -> int | None:
        if self._step_getter is None:
            return None
        try:
            return self._step_getter()
        except Exception:
            return None

    def _relay_died(self) -> None:
        """The relay ended before we stopped (killed?): put the terminal back, drain what is left."""
        with self._lock:
            if self._state != "running":
                return
            for ch in self._channels:
                _drain(ch.read_fd, ch.saved)  # what was waiting, in order, before new output
                if _points_to(ch.fd, ch.write_ident):
                    os.dup2(ch.saved, ch.fd)
            self._finish_fds(drain=True)
            self._state = "stopped"
        self._release_slot()
        notices.warn_once(
            "console-relay",
            "console capture stopped: its relay process ended; output goes straight to the "
            "terminal again",
        )

    # -- stop ----------------------------------------------------------------------------------

    def stop(self, timeout: float = 2.0) -> None:
        """Restore fds 1/2 and hand the last lines to the sink (waits at most ``timeout`` s).

        Safe to call twice, from any thread, and from a signal handler (SIGTERM). Output that
        processes started meanwhile still write into the pipes keeps reaching the terminal
        (the relay runs until they close them) but is no longer stored.
        """
        if self._pid != os.getpid():
            return  # never started, or a forked child: the parent owns the capture
        if not self._lock.acquire(timeout=max(0.0, timeout)):
            return
        try:
            if self._state != "running":
                return
            self._state = "stopping"
            _flush_stdio()
            relay_alive = self._proc is not None and self._proc.poll() is None
            waiting: set[str] = set()
            for ch in self._channels:
                if not _points_to(ch.fd, ch.write_ident):
                    continue  # someone else redirected it since: leave it to them
                if relay_alive:
                    # In-band: once the relay sees this, every byte we wrote before is handled.
                    try:
                        os.write(ch.fd, self._token)
                        waiting.add(ch.stream)
                    except OSError:
                        pass
                os.dup2(ch.saved, ch.fd)
        finally:
            self._lock.release()
        with self._cond:
            self._cond.wait_for(lambda: waiting <= self._synced or self._relay_gone, timeout)
        with self._lock:
            self._storing = False
            self._finish_fds(drain=self._relay_gone)
            self._state = "stopped"
        self._release_slot()

    def _finish_fds(self, drain: bool) -> None:
        """Close this process's copies (the relay keeps its own while writers remain)."""
        for ch in self._channels:
            if drain:
                _drain(ch.read_fd, ch.saved, idle=0.2)
            _close(ch.read_fd, ch.saved)

    def _release_slot(self) -> None:
        global _active
        with _slot_lock:
            if _active is self:
                _active = None

    def _forget_after_fork(self) -> None:
        """In a forked child: the parent owns the capture; keep writing into the pipes (the relay
        serves every writer until it closes them), drop our copies of everything else."""
        self._state = "forked"
        for ch in self._channels:
            _close(ch.read_fd, ch.saved)
        _close(self._lines_r)


def _open_channel(stream: Stream, fd: int) -> tuple[_Channel, int]:
    """A pipe (or a raw pty, where fd is a terminal) standing in for ``fd``; returns its write end."""
    saved = os.dup(fd)
    tty = os.isatty(fd)
    read_fd = write_fd = -1
    if tty:
        try:
            read_fd, write_fd = _open_pty(fd)
        except OSError:
            tty = False
    if not tty:
        read_fd, write_fd = os.pipe()
        try:
            import fcntl

            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        except (ImportError, AttributeError, OSError):
            pass  # not Linux, or over the user's limit: the default size works too
    os.set_blocking(read_fd, False)  # the relay selects; our fallback drain must not block
    st = os.fstat(write_fd)
    return _Channel(stream, fd, saved, read_fd, (st.st_dev, st.st_ino, st.st_rdev), tty), write_fd


def _open_pty(like_fd: int) -> tuple[int, int]:
    import fcntl
    import termios
    import tty

    master, slave = os.openpty()
    try:
        tty.setraw(slave)  # bytes pass unchanged (no \n -> \r\n here; the real terminal does it)
        size = fcntl.ioctl(like_fd, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
    except (OSError, termios.error):
        _close(master, slave)
        raise OSError("pty setup failed") from None
    return master, slave


def _points_to(fd: int, ident: tuple[int, int, int]) -> bool:
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino, st.st_rdev) == ident


def _drain(read_fd: int, out_fd: int, idle: float = 0.0) -> None:
    """Pass what is in the pipe through to ``out_fd``; with ``idle``, also what still arrives
    until the pipe has been quiet that long (a write that was blocked on the full pipe)."""
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(read_fd, selectors.EVENT_READ)
        while True:
            try:
                data = os.read(read_fd, 1 << 16)
            except BlockingIOError:
                if idle and sel.select(idle):
                    continue
                return
            except OSError:
                return
            if not data:
                return
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(out_fd, view) :]
            except OSError:
                return


def _close(*fds: int) -> None:
    for fd in fds:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


_libc_fflush: Callable[[object], int] | None = None


def _flush_stdio() -> None:
    """Push what Python and C have buffered to the fd it was written for (before a swap)."""
    seen: set[int] = set()
    for f in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if f is None or id(f) in seen:
            continue
        seen.add(id(f))
        try:
            f.flush()
        except Exception:  # closed, or re-entered from a signal handler mid-write
            pass
    global _libc_fflush
    try:
        if _libc_fflush is None:
            import ctypes

            _libc_fflush = ctypes.CDLL(None).fflush
        _libc_fflush(None)  # C stdio (printf from extensions) is fully buffered on a pipe
    except (ImportError, OSError, AttributeError):
        pass


def _install_process_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_stop_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)


def _stop_at_exit() -> None:
    capture = _active
    if capture is not None:
        capture.stop()


def _after_fork_in_child() -> None:
    global _slot_lock, _active
    _slot_lock = threading.Lock()  # another thread may have held it at fork time
    capture, _active = _active, None
    if capture is not None:
        capture._forget_after_fork()
