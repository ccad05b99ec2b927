"""Console capture in real processes: what the terminal shows, what the sink stores, and that the
program never hangs, whatever it prints, forks, or however it ends."""

from __future__ import annotations

import json
import os
import pty
import selectors
import signal
import struct
import subprocess
import sys
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .conftest import Scenarios

START = """
cap = ConsoleCapture(sink, step_getter=lambda: STEP[0])
assert cap.start()
"""


def test_python_c_and_child_output_is_captured_and_still_shown(scenarios: Scenarios) -> None:
    out = scenarios.run(START + """
print("print to stdout", flush=True)  # stdout is a pipe: block-buffered without the flush
print("print to stderr", file=sys.stderr)
os.write(1, b"C write to fd 1\\n")
os.write(2, b"C write to fd 2\\n")
subprocess.run(["echo", "from a child process"], check=True)
subprocess.run(["sh", "-c", "echo child stderr >&2"], check=True)
cap.stop()
""")
    assert out.rc == 0, out.stderr
    assert out.texts("stdout") == ["print to stdout", "C write to fd 1", "from a child process"]
    assert out.texts("stderr") == ["print to stderr", "C write to fd 2", "child stderr"]
    assert out.stdout == b"print to stdout\nC write to fd 1\nfrom a child process\n"
    assert out.stderr == b"print to stderr\nC write to fd 2\nchild stderr\n"


def test_lines_carry_the_current_step_and_time(scenarios: Scenarios) -> None:
    out = scenarios.run(START + """
import time
t0 = time.time()
STEP[0] = 3
print("at step 3", flush=True)
wait_for("at step 3")
STEP[0] = 7
print("at step 7", flush=True)
wait_for("at step 7")
cap.stop()
result(t0=t0, t1=time.time())
""")
    assert out.rc == 0, out.stderr
    assert [(ln["text"], ln["step"]) for ln in out.lines] == [("at step 3", 3), ("at step 7", 7)]
    assert all(out.result["t0"] <= ln["time"] <= out.result["t1"] for ln in out.lines)


def test_output_printed_before_start_is_not_claimed(scenarios: Scenarios) -> None:
    out = scenarios.run("""
print("before start")  # still in Python's buffer (stdout is a pipe): start() flushes it first
cap = ConsoleCapture(sink)
cap.start()
print("after start")
cap.stop()
""")
    assert out.rc == 0, out.stderr
    assert out.texts() == ["after start"]
    assert out.stdout == b"before start\nafter start\n"


def test_progress_bar_is_one_row_in_its_final_state_and_unchanged_on_the_terminal(
    scenarios: Scenarios,
) -> None:
    out = scenarios.run(START + """
for i in range(1001):
    sys.stderr.write(f"\\r{i / 10:5.1f}% |{'#' * (i // 50):20s}| {i}/1000")
    sys.stderr.flush()
sys.stderr.write("\\n")
print("done")
cap.stop()
""")
    assert out.rc == 0, out.stderr
    assert out.texts("stderr") == ["100.0% |####################| 1000/1000"]
    assert out.texts("stdout") == ["done"]
    expected = "".join(f"\r{i / 10:5.1f}% |{'#' * (i // 50):20s}| {i}/1000" for i in range(1001))
    assert out.stderr == (expected + "\n").encode()


def test_text_is_utf8_with_replacement_and_escapes_are_kept(scenarios: Scenarios) -> None:
    out = scenarios.run(START + """
os.write(1, b"bad \\xff byte, \\x1b[31mred\\x1b[0m, tab\\tend, caf\\xc3\\xa9\\n")
cap.stop()
""")
    assert out.rc == 0, out.stderr
    assert out.texts() == ["bad \ufffd byte, \x1b[31mred\x1b[0m, tab\tend, café"]


def test_an_unfinished_line_is_stored_at_stop(scenarios: Scenarios) -> None:
    out = scenarios.run(START + """
sys.stdout.write("no newline yet")
cap.stop()
sys.stdout.write(" and after stop\\n")
""")
    assert out.rc == 0, out.stderr
    assert out.texts() == ["no newline yet"]
    assert out.stdout == b"no newline yet and after stop\n"


def test_exit_without_stop_restores_the_terminal_and_keeps_the_lines(scenarios: Scenarios) -> None:
    out = scenarios.run(START + """
print("a line")
print("the last words", end="")  # only in Python's buffer when the program ends
""")
    assert out.rc == 0, out.stderr
    assert out.texts() == ["a line", "the last words"]
    assert out.stdout == b"a line\nthe last words"


# -- the terminal sees exactly what it saw without capture -----------------------------------

MIXED_OUTPUT = """
import time
CAPTURE = sys.argv[3] == "1"
if CAPTURE:
    cap = ConsoleCapture(sink)
    assert cap.start()
print(os.isatty(1), os.isatty(2), os.get_terminal_size(1) if os.isatty(1) else "")
sys.stdout.write("\\x1b[32mgreen\\x1b[0m and \\x1b[1mbold\\x1b[0m\\n")
for i in range(300):
    sys.stderr.write(f"\\r{i:3d}% |{'#' * (i // 15):20s}|")
    sys.stderr.flush()
sys.stderr.write("\\n")
os.write(1, b"raw \\xff\\xfe bytes\\r\\n")
os.write(1, bytes(range(256)))
os.write(1, b"ends in a NUL\\x00")
os.write(1, b"\\x00 and NUL again\\n")
os.write(2, b"stderr without newline")
print("y" * 300_000)
sys.stdout.flush()
subprocess.run(["printf", "child %s\\\\n", "ok"], check=True)
print("\\u2713 unicode \\u00e9\\u4e2d")
if CAPTURE:
    cap.stop()
"""


def test_terminal_bytes_identical_with_and_without_capture_on_pipes(scenarios: Scenarios) -> None:
    without = scenarios.run(MIXED_OUTPUT, "0")
    with_capture = scenarios.run(MIXED_OUTPUT, "1")
    assert without.rc == with_capture.rc == 0, with_capture.stderr
    assert with_capture.stdout == without.stdout
    assert with_capture.stderr == without.stderr
    assert "\x1b[32mgreen\x1b[0m and \x1b[1mbold\x1b[0m" in with_capture.texts("stdout")


def _run_on_ptys(scenarios: Scenarios, body: str, *extra: str) -> tuple[int, bytes, bytes]:
    """Run the scenario with two terminals (ptys, 40x123) as stdout and stderr."""
    import fcntl
    import termios

    path, args = scenarios.script(body)
    masters, slaves = [], []
    for _ in range(2):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 123, 0, 0))
        masters.append(master)
        slaves.append(slave)
    proc = subprocess.Popen(
        [sys.executable, str(path), *args, *extra],
        stdin=subprocess.DEVNULL, stdout=slaves[0], stderr=slaves[1], env=scenarios.env(),
    )
    for slave in slaves:
        os.close(slave)
    got = {m: bytearray() for m in masters}
    sel = selectors.DefaultSelector()
    for m in masters:
        sel.register(m, selectors.EVENT_READ)
    open_masters = set(masters)
    while open_masters:  # until every writer (the program, its relay) has closed the terminal
        for key, _ in sel.select(timeout=60):
            try:
                data = os.read(key.fd, 65536)
            except OSError:  # EIO: no writer left
                data = b""
            if data:
                got[key.fd] += data
            else:
                sel.unregister(key.fd)
                open_masters.discard(key.fd)
    rc = proc.wait(timeout=60)
    for m in masters:
        os.close(m)
    return rc, bytes(got[masters[0]]), bytes(got[masters[1]])


def test_terminal_bytes_identical_with_and_without_capture_on_a_terminal(
    scenarios: Scenarios,
) -> None:
    rc0, out0, err0 = _run_on_ptys(scenarios, MIXED_OUTPUT, "0")
    rc1, out1, err1 = _run_on_ptys(scenarios, MIXED_OUTPUT, "1")
    assert rc0 == rc1 == 0, err1
    # the program still sees a terminal of the same size: colours and \r bars stay as they were
    assert out0.startswith(b"True True os.terminal_size(columns=123, lines=40)")
    assert out1 == out0
    assert err1 == err0


# -- volume, slowness, memory ----------------------------------------------------------------


def test_a_gigabyte_against_a_small_cap_stays_bounded_and_passes_through(
    scenarios: Scenarios,
) -> None:
    path, args = scenarios.script("""
cap = ConsoleCapture(sink, max_bytes=1_000_000)
assert cap.start()
rss_before = vm_kib("VmRSS")
block = (b"y" * 1023 + b"\\n") * 1024  # 1 MiB of 1 KiB lines
for _ in range(1024):
    view = memoryview(block)
    while view:
        view = view[os.write(1, view):]
relay_peak = vm_kib("VmHWM", cap.relay_pid)
cap.stop()
result(rss_before=rss_before, peak=vm_kib("VmHWM"), relay_peak=relay_peak)
""")
    proc = subprocess.Popen(
        [sys.executable, str(path), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=scenarios.env()
    )
    assert proc.stdout is not None
    total = 0
    while chunk := proc.stdout.read(1 << 20):
        total += len(chunk)
    err = proc.stderr.read() if proc.stderr else b""
    out = scenarios.collect(proc.wait(timeout=120), b"", err)
    assert out.rc == 0, out.stderr
    assert total == 1 << 30  # the terminal got every byte
    texts = out.texts()
    assert sum(len(t) for t in texts[:-1]) <= 1_000_000
    assert texts[-1].startswith("[tracker: console capture reached its limit of 1 MB")
    assert sum(t.startswith("[tracker:") for t in texts) == 1
    assert set(texts[:-1]) == {"y" * 1023}
    # bounded memory: neither process grew with the gigabyte
    assert out.result["peak"] - out.result["rss_before"] < 64 * 1024, out.result
    assert out.result["relay_peak"] < 64 * 1024, out.result


def test_a_long_line_without_newline_is_stored_in_bounded_pieces(scenarios: Scenarios) -> None:
    out = scenarios.run("""
cap = ConsoleCapture(sink, max_line_bytes=64 * 1024)
cap.start()
os.write(1, b"z" * 1_000_000)
cap.stop()
""")
    assert out.rc == 0, out.stderr
    assert "".join(out.texts()) == "z" * 1_000_000
    assert max(len(t) for t in out.texts()) <= 64 * 1024
    assert out.stdout == b"z" * 1_000_000


def test_a_slow_sink_never_blocks_the_program_and_drops_are_counted(scenarios: Scenarios) -> None:
    out = scenarios.run("""
release = threading.Event()
def slow_sink(lines):
    release.wait()  # the run's writer is stuck (a slow disk, a network store)
    sink(lines)
cap = ConsoleCapture(slow_sink, queue_bytes=64 * 1024)
cap.start()
N = 200_000
for first in range(0, N, 1000):
    os.write(1, b"".join(b"line %08d %s\\n" % (i, b"z" * 80) for i in range(first, first + 1000)))
release.set()
cap.stop(timeout=60)
result(n=N)
""")
    assert out.rc == 0, out.stderr
    n = out.result["n"]
    assert out.stdout.count(b"\n") == n  # the terminal got everything
    kept = [t for t in out.texts() if not t.startswith("[tracker:")]
    markers = [t for t in out.texts() if t.startswith("[tracker:")]
    dropped = sum(int(m.split()[1]) for m in markers)
    assert markers and all("console lines were not stored" in m for m in markers)
    assert len(kept) + dropped == n
    numbers = [int(t.split()[1]) for t in kept]
    assert numbers == sorted(numbers)


def test_a_sink_that_never_returns_does_not_hang_stop_or_exit(scenarios: Scenarios) -> None:
    out = scenarios.run("""
forever = threading.Event()
cap = ConsoleCapture(lambda lines: forever.wait())
cap.start()
for _ in range(50):
    os.write(1, (b"x" * 99 + b"\\n") * 1000)
cap.stop(timeout=0.5)
os.write(1, b"after stop\\n")
result(running=cap.running)
""")
    assert out.rc == 0, out.stderr
    assert out.result == {"running": False}
    assert out.stdout.endswith(b"after stop\n") and out.stdout.count(b"\n") == 50_001


def test_c_code_printing_while_holding_the_gil_does_not_deadlock(scenarios: Scenarios) -> None:
    # ctypes.PyDLL keeps the GIL during the call, like a C extension that prints: 8 MiB is far
    # more than a pipe holds, so a reader that needs the GIL would never drain it.
    out = scenarios.run(START + """
import ctypes
big = (b"g" * 1023 + b"\\n") * 8192
written = ctypes.PyDLL(None).write(1, big, len(big))
cap.stop()
result(written=written)
""", timeout=60)
    assert out.rc == 0, out.stderr
    assert out.result["written"] == 8 << 20
    assert len(out.stdout) == 8 << 20
    assert len(out.texts()) == 8192


# -- forks, signals, deaths ------------------------------------------------------------------


def test_a_forked_child_is_captured_and_keeps_its_terminal_after_stop(
    scenarios: Scenarios,
) -> None:
    out = scenarios.run(START + """
go_r, go_w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(go_w)
    print("child before stop", flush=True)
    os.read(go_r, 1)  # until the parent has stopped capturing
    print("child after stop", flush=True)
    os._exit(0)
os.close(go_r)
wait_for("child before stop")
print("parent", flush=True)
wait_for("parent")
cap.stop()
os.write(go_w, b"g")
_, status = os.waitpid(pid, 0)
result(child_status=status)
""")
    assert out.rc == 0, out.stderr
    assert out.result == {"child_status": 0}
    assert out.texts() == ["child before stop", "parent"]
    assert out.stdout == b"child before stop\nparent\nchild after stop\n"


def test_sigterm_handler_stop_restores_fds_and_keeps_the_lines(scenarios: Scenarios) -> None:
    path, args = scenarios.script("""
def same(fd, st):
    now = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)

original = [os.fstat(1), os.fstat(2)]
def on_sigterm(signum, frame):  # what the run's lifecycle does: finish, then die of SIGTERM
    cap.stop()
    result(restored=same(1, original[0]) and same(2, original[1]), running=cap.running)
    os.write(1, b"after stop\\n")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
signal.signal(signal.SIGTERM, on_sigterm)
cap = ConsoleCapture(sink)
cap.start()
assert not same(1, original[0])
print("line one")
os.write(2, b"progress 42%")
print("ready", flush=True)
while True:
    signal.pause()
""")
    proc = subprocess.Popen(
        [sys.executable, str(path), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=scenarios.env()
    )
    assert proc.stdout is not None and proc.stderr is not None
    seen = b""
    while not seen.endswith(b"ready\n"):
        line = proc.stdout.readline()
        assert line, "the scenario ended before it was ready"
        seen += line
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=60)
    out = scenarios.collect(proc.returncode, seen + rest, err)
    assert out.rc == -signal.SIGTERM
    assert out.result == {"restored": True, "running": False}
    assert out.texts("stdout") == ["line one", "ready"]
    assert out.texts("stderr") == ["progress 42%"]
    assert out.stdout == b"line one\nready\nafter stop\n"
    assert out.stderr == b"progress 42%"


def test_kill_9_keeps_what_reached_the_sink_and_the_terminal_gets_everything(
    scenarios: Scenarios,
) -> None:
    out = scenarios.run(START + """
for i in range(100):
    os.write(1, b"line %d\\n" % i)
wait_for("line 99")  # no flush, no stop: the lines reach the sink on their own
os.write(2, b"the last words before the kill\\n")
os.kill(os.getpid(), signal.SIGKILL)
""")
    assert out.rc == -signal.SIGKILL
    assert out.texts("stdout") == [f"line {i}" for i in range(100)]
    assert out.stdout == b"".join(b"line %d\n" % i for i in range(100))
    assert out.stderr == b"the last words before the kill\n"  # the relay outlives the process


def test_an_abort_right_after_an_error_message_still_shows_the_message(
    scenarios: Scenarios,
) -> None:
    out = scenarios.run(START + """
import ctypes
msg = b"terminate called after throwing an instance of 'c10::Error'\\n"
ctypes.PyDLL(None).write(2, msg, len(msg))  # C++ holding the GIL, then abort()
os.abort()
""")
    assert out.rc == -signal.SIGABRT
    assert out.stderr == b"terminate called after throwing an instance of 'c10::Error'\n"


def test_if_the_relay_dies_output_goes_back_to_the_terminal(scenarios: Scenarios) -> None:
    out = scenarios.run(START + """
print("first", flush=True)
wait_for("first")  # the relay has handled it and waits for more
os.kill(cap.relay_pid, signal.SIGKILL)
for first in range(0, 30_000, 1000):  # 2+ MiB: more than the pipe holds
    os.write(1, b"".join(b"n %06d %s\\n" % (i, b"q" * 60) for i in range(first, first + 1000)))
cap.stop()
result(running=cap.running)
""", timeout=60)
    assert out.rc == 0, out.stderr
    assert out.result == {"running": False}
    assert out.stdout.startswith(b"first\n")
    # Nothing lost; the order of what was in flight while the terminal came back may differ.
    expected = b"first\n" + b"".join(b"n %06d %s\n" % (i, b"q" * 60) for i in range(30_000))
    assert Counter(out.stdout) == Counter(expected)
    assert b"console capture stopped: its relay process ended" in out.stderr


# -- the engine's own contract ---------------------------------------------------------------


def test_stop_twice_restart_and_one_capture_per_process(scenarios: Scenarios) -> None:
    out = scenarios.run("""
first = ConsoleCapture(sink)
second = ConsoleCapture(sink)
started = [first.start(), second.start()]
print("captured once")
first.stop()
first.stop()
second.stop()
third = ConsoleCapture(sink)
started.append(third.start())
print("captured again")
third.stop()
result(started=started, running=[first.running, second.running, third.running])
""")
    assert out.rc == 0, out.stderr
    assert out.result == {"started": [True, False, True], "running": [False, False, False]}
    assert out.texts("stdout") == ["captured once", "captured again"]
    assert b"console capture is already on in this process" in out.stderr


def test_relay_runs_stdlib_only_and_capture_is_not_loaded_by_import_tracker(
    scenarios: Scenarios,
) -> None:
    probe = (
        "import sys, tracker; loaded = [m for m in sys.modules if m.startswith('tracker.capture')]; "
        "print(loaded)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=scenarios.env())
    assert out.stdout.strip() == "[]"
    relay_imports = subprocess.run(
        [sys.executable, "-I", "-S", "-c",
         f"import runpy, sys; runpy.run_path({json.dumps(str(scenarios.env()['PYTHONPATH']))} + "
         "'/tracker/capture/relay.py', run_name='not_main'); "
         "print(sorted(m for m in sys.modules if m.startswith('tracker')))"],
        capture_output=True, text=True,
    )
    assert relay_imports.returncode == 0, relay_imports.stderr
    assert relay_imports.stdout.strip() == "[]"
