"""The console relay process: drains the captured stdout/stderr pipes, tees them to the terminal,
and sends finished lines to the run's process.

It runs as ``python -I -S relay.py ...`` (standard library only, nothing of tracker imported), so
it drains the pipes whatever the training process does: a C extension that prints while holding
the GIL, a slow sink, a crash, ``kill -9``. It ends when every writer of the pipes has closed them
(the training process restored its file descriptors or died, and its children exited), after
passing through everything they wrote.

Wire format towards the run (``lines`` pipe): records of ``<B d I`` (kind, unix time, length) and
``length`` payload bytes. Kinds: LINE_STDOUT/LINE_STDERR (payload: one or more lines read at that
time, raw bytes joined by ``\n``), SYNC (payload: the stream name; every line the run wrote
before its sync token has been sent), DONE (the relay is exiting).
"""

from __future__ import annotations

import errno
import os
import selectors
import signal
import struct
import sys
import time

HEADER = struct.Struct("<BdI")
DONE, LINE_STDOUT, LINE_STDERR, SYNC = 0, 1, 2, 3
READ_SIZE = 256 * 1024
FINAL_SEND_SECONDS = 10.0  # after EOF, how long to wait for the run to take the last lines


def utf8_cut(buf: bytes | bytearray, limit: int) -> int:
    """An index <= limit that does not split a UTF-8 character (limit itself when unsure)."""
    i = limit
    while i > 0 and limit - i < 3 and (buf[i] & 0xC0) == 0x80:
        i -= 1
    return i if i > 0 else limit


class LineSplitter:
    """Bytes in, finished lines out; a carriage return rewrites the line (its final state is kept).

    ``abc\\rdef\\n`` gives ``def``; a line that ends in ``\\r`` (or ``\\r\\n``) gives the text before
    it. A partial line longer than ``max_line_bytes`` is cut into pieces, so memory stays bounded.
    """

    def __init__(self, max_line_bytes: int) -> None:
        self._max = max(16, max_line_bytes)
        self._cur = bytearray()  # the text after the last \r
        self._prev = b""  # the last non-empty text before a \r (shown if the line ends empty)

    def feed(self, data: bytes) -> list[bytes]:
        if b"\r" not in data and not self._prev:
            parts = data.split(b"\n")
            if len(parts) > 1 and len(self._cur) + max(map(len, parts)) <= self._max:
                # the common case, without a loop in Python: whole lines, no rewrites, none too long
                parts[0] = bytes(self._cur) + parts[0]
                self._cur = bytearray(parts.pop())
                return parts
        out: list[bytes] = []
        parts = data.split(b"\n")
        last = len(parts) - 1
        for i, part in enumerate(parts):
            if part:
                self._add(part, out)
            if i < last:
                out.append(self._take())
        return out

    def flush(self) -> bytes | None:
        """The unfinished line, if any (at a sync point or at the end)."""
        if self._cur or self._prev:
            return self._take()
        return None

    def _add(self, part: bytes, out: list[bytes]) -> None:
        if b"\r" in part:
            segments = part.split(b"\r")
            self._cur += segments[0]
            for seg in reversed(segments[1:-1]):
                if seg:
                    self._prev = seg
                    break
            else:
                if self._cur:
                    self._prev = bytes(self._cur)
            if len(self._prev) > self._max:
                self._prev = self._prev[: utf8_cut(self._prev, self._max)]
            self._cur = bytearray(segments[-1])
        else:
            self._cur += part
        while len(self._cur) > self._max:
            cut = utf8_cut(self._cur, self._max)
            out.append(bytes(self._cur[:cut]))
            del self._cur[:cut]
            self._prev = b""

    def _take(self) -> bytes:
        line = bytes(self._cur) if self._cur else self._prev
        self._cur = bytearray()
        self._prev = b""
        return line


def token_overlap(data: bytes, token: bytes) -> int:
    """How many bytes at the end of ``data`` could start ``token`` (held back until more comes)."""
    first = token[:1]
    start = max(0, len(data) - len(token) + 1)
    j = data.find(first, start)
    while j >= 0:
        if token.startswith(data[j:]):
            return len(data) - j
        j = data.find(first, j + 1)
    return 0


def _wait_writable(fd: int) -> None:
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_WRITE)
        sel.select(1.0)


class _Stream:
    def __init__(self, name: str, read_fd: int, out_fd: int, tty: bool, max_line: int) -> None:
        self.name = name
        self.kind = LINE_STDOUT if name == "stdout" else LINE_STDERR
        self.read_fd = read_fd
        self.out_fd = out_fd
        self.tty = tty
        self.splitter = LineSplitter(max_line)
        self.held = b""  # a possible start of the sync token, held back from the terminal
        self.out_ok = True
        self.winsize = b""


class Relay:
    def __init__(
        self,
        streams: list[_Stream],
        lines_fd: int,
        token: bytes,
        max_bytes: int,
        queue_bytes: int,
    ) -> None:
        self.streams = streams
        self.lines_fd = lines_fd
        self.token = token
        self.max_bytes = max_bytes
        self.queue_bytes = queue_bytes
        self.stored = 0
        self.capped = False
        self.dropped = 0
        self.lines_open = True
        self.out = bytearray()
        self.sel = selectors.DefaultSelector()

    # -- towards the run ---------------------------------------------------------------------

    def _record(self, kind: int, payload: bytes, now: float) -> bytes:
        return HEADER.pack(kind, now, len(payload)) + payload

    def emit_many(self, stream: _Stream, lines: list[bytes], now: float) -> None:
        """Lines read together go as one record (the run splits them at \n again)."""
        if self.capped or not self.lines_open:
            return
        size = sum(map(len, lines))
        if len(lines) == 1 or self.stored + size > self.max_bytes:
            for line in lines:  # one by one, so the cap falls at the right line
                self.emit(stream, line, now)
            return
        payload = b"\n".join(lines)
        record = self._record(stream.kind, payload, now)
        if len(self.out) + len(record) > self.queue_bytes:
            self.dropped += len(lines)
            return
        self._report_dropped(stream.kind, now)
        self.stored += size
        self.out += record

    def emit(self, stream: _Stream, line: bytes, now: float) -> None:
        if self.capped or not self.lines_open:
            return
        if self.stored + len(line) > self.max_bytes:
            self.capped = True
            mb = self.max_bytes / 1e6
            note = (
                f"[tracker: console capture reached its limit of {mb:g} MB; "
                "later output is shown but not stored]"
            )
            self.out += self._record(stream.kind, note.encode(), now)
            return
        record = self._record(stream.kind, line, now)
        if len(self.out) + len(record) > self.queue_bytes:
            self.dropped += 1  # the run is not taking lines: drop, never stall the terminal
            return
        self._report_dropped(stream.kind, now)
        self.stored += len(line)
        self.out += record

    def _report_dropped(self, kind: int, now: float) -> None:
        if self.dropped:
            note = (
                f"[tracker: {self.dropped} console lines were not stored: "
                "the run could not keep up]"
            )
            self.out += self._record(kind, note.encode(), now)
            self.dropped = 0

    def send(self) -> None:
        """Send what the run's pipe takes now, without blocking."""
        while self.out and self.lines_open:
            try:
                n = os.write(self.lines_fd, self.out[: 1 << 20])
            except BlockingIOError:
                return
            except InterruptedError:
                continue
            except OSError:  # the run's process is gone: keep relaying, stop storing
                self.lines_open = False
                self.out.clear()
                return
            del self.out[:n]

    # -- towards the terminal ------------------------------------------------------------------

    def pass_through(self, stream: _Stream, data: bytes) -> None:
        if not stream.out_ok:
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(stream.out_fd, view)
            except InterruptedError:
                continue
            except BlockingIOError:  # the original is non-blocking (shared with another program)
                _wait_writable(stream.out_fd)
                continue
            except OSError:  # the terminal went away (hang-up) or the reader closed its pipe
                stream.out_ok = False
                return
            view = view[n:]

    def sync_winsize(self) -> None:
        """Give each pty the size of the terminal it stands in for (programs ask fd 1 for it)."""
        try:
            import fcntl
            import termios
        except ImportError:
            return
        for stream in self.streams:
            if not stream.tty:
                continue
            try:
                size = fcntl.ioctl(stream.out_fd, termios.TIOCGWINSZ, b"\0" * 8)
                if size != stream.winsize:
                    fcntl.ioctl(stream.read_fd, termios.TIOCSWINSZ, size)
                    stream.winsize = size
            except OSError:
                pass

    # -- the loop ------------------------------------------------------------------------------

    def handle(self, stream: _Stream, data: bytes, now: float) -> None:
        data = stream.held + data
        stream.held = b""
        while True:
            i = data.find(self.token)
            if i < 0:
                break
            self._consume(stream, data[:i], now)
            tail = stream.splitter.flush()
            if tail is not None:
                self.emit(stream, tail, now)
            self._report_dropped(stream.kind, now)
            self.out += self._record(SYNC, stream.name.encode(), now)
            data = data[i + len(self.token):]
        keep = token_overlap(data, self.token)
        if keep:
            stream.held = data[-keep:]
            data = data[:-keep]
        self._consume(stream, data, now)

    def _consume(self, stream: _Stream, data: bytes, now: float) -> None:
        if not data:
            return
        self.pass_through(stream, data)
        if not self.capped and self.lines_open:
            lines = stream.splitter.feed(data)
            if lines:
                self.emit_many(stream, lines, now)

    def close_stream(self, stream: _Stream, now: float) -> None:
        self.sel.unregister(stream.read_fd)
        if stream.held:
            self._consume(stream, stream.held, now)
            stream.held = b""
        tail = stream.splitter.flush()
        if tail is not None:
            self.emit(stream, tail, now)
        os.close(stream.read_fd)
        self.streams.remove(stream)

    def run(self) -> None:
        for stream in self.streams:
            self.sel.register(stream.read_fd, selectors.EVENT_READ, stream)
        self.sync_winsize()
        watching_lines = False
        while self.streams:
            want = bool(self.out) and self.lines_open
            if want != watching_lines:
                if want:
                    self.sel.register(self.lines_fd, selectors.EVENT_WRITE, None)
                else:
                    self.sel.unregister(self.lines_fd)
                watching_lines = want
            for key, _ in self.sel.select():
                stream = key.data
                if stream is None:
                    continue  # the run's pipe has room: sent below
                try:
                    data = os.read(stream.read_fd, READ_SIZE)
                except BlockingIOError:
                    continue
                except OSError as err:  # EIO: the last writer of a pty closed it
                    if err.errno not in (errno.EIO, errno.EBADF):
                        raise
                    data = b""
                now = time.time()
                if data:
                    if stream.tty:
                        self.sync_winsize()
                    self.handle(stream, data, now)
                else:
                    self.close_stream(stream, now)
            self.send()
        if watching_lines:
            self.sel.unregister(self.lines_fd)
        self._finish()

    def _finish(self) -> None:
        now = time.time()
        self._report_dropped(LINE_STDOUT, now)
        self.out += self._record(DONE, b"", now)
        deadline = time.monotonic() + FINAL_SEND_SECONDS
        sel = selectors.DefaultSelector()
        sel.register(self.lines_fd, selectors.EVENT_WRITE)
        while self.out and self.lines_open:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sel.select(left)
            self.send()


def main(argv: list[str]) -> int:
    """``relay.py LINES_FD TOKEN_HEX MAX_BYTES MAX_LINE_BYTES QUEUE_BYTES NAME:READ_FD:OUT_FD:TTY...``"""
    # The training process decides about these signals; the relay ends when its pipes close.
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    lines_fd = int(argv[0])
    token = bytes.fromhex(argv[1])
    max_bytes, max_line, queue_bytes = (int(a) for a in argv[2:5])
    streams = []
    for spec in argv[5:]:
        name, read_fd, out_fd, tty = spec.split(":")
        streams.append(_Stream(name, int(read_fd), int(out_fd), tty == "1", max_line))
    os.set_blocking(lines_fd, False)
    relay = Relay(streams, lines_fd, token, max_bytes, queue_bytes)
    if hasattr(signal, "SIGWINCH"):
        signal.signal(signal.SIGWINCH, lambda *_: relay.sync_winsize())
    relay.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
