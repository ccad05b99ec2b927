"""tracker.init() with system metrics and console capture on (the default), end to end in a fresh
Python process: what the terminal shows, what the store holds, and how the run's end stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import tracker

REPO = Path(tracker.__file__).resolve().parent.parent

# A fake pynvml (one GPU, used by this process), importable in the scenario: the sampler's real
# NVML layer runs on it.
FAKE_NVML = '''
import os, sys, types
fake = types.SimpleNamespace(
    NVMLError=type("NVMLError", (Exception,), {}), NVML_TEMPERATURE_GPU=0,
    nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 1,
    nvmlDeviceGetHandleByIndex=lambda i: i,
    nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=87, memory=40),
    nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=3 << 30, total=8 << 30, free=0),
    nvmlDeviceGetTemperature=lambda h, sensor: 66,
    nvmlDeviceGetPowerUsage=lambda h: 210_000,
    nvmlDeviceGetComputeRunningProcesses=lambda h: [
        types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=1 << 30)],
)
sys.modules["pynvml"] = fake
import tracker.capture.nvml as _nvml
_nvml.driver_present = lambda: True
'''


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **extra}
    env.pop("PYTHONUNBUFFERED", None)
    return env


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(body))
    return path


def _run(tmp_path: Path, body: str, *, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(_script(tmp_path, body))], cwd=tmp_path,
                          capture_output=True, env=_env(**env), timeout=timeout)


def _lines(db: Path, run_id: str | None = None) -> list[tuple[str, str, int | None]]:
    with tracker.open_store(db) as store:
        rid = run_id or store.runs()[0].id
        return [(ln.stream, ln.text, ln.step) for ln in store.console_lines(rid)]


TRAINING = '''
import os, subprocess, sys
import tracker
run = tracker.init(project="p", db="runs.db", console=CONSOLE)
print("epoch 0 starting", flush=True)
os.write(1, b"C on fd 1\\n")
os.write(2, b"C on fd 2\\n")
subprocess.run([sys.executable, "-c", "print('from a child process')"], check=True)
for i in range(3):
    run.log({"loss": 1.0 / (i + 1)})
for i in range(201):
    sys.stderr.write(f"\\rtraining {i / 2:5.1f}% |{'#' * (i // 20):10s}|")
    sys.stderr.flush()
sys.stderr.write("\\n")
print("\\x1b[32mdone\\x1b[0m\\tok")
run.finish()
print("after finish: not stored")
'''


def test_print_fd_writes_a_child_and_a_progress_bar_are_stored_and_shown_unchanged(
    tmp_path: Path,
) -> None:
    on = _run(tmp_path, TRAINING.replace("CONSOLE", "True"))
    assert on.returncode == 0, on.stderr
    lines = _lines(tmp_path / "runs.db")
    assert [t for s, t, _ in lines if s == "stdout"] == [
        "epoch 0 starting",
        "C on fd 1",
        "from a child process",
        "\x1b[32mdone\x1b[0m\tok",  # stored as printed; shown without the escapes
    ]
    assert [t for s, t, _ in lines if s == "stderr"] == [
        "C on fd 2",
        "training 100.0% |##########|",  # the bar once, in its final state
    ]
    (tmp_path / "runs.db").unlink()
    off = _run(tmp_path, TRAINING.replace("CONSOLE", "False"))
    assert off.returncode == 0, off.stderr
    assert _lines(tmp_path / "runs.db") == []
    assert (on.stdout, on.stderr) == (off.stdout, off.stderr)  # the terminal, byte for byte
    assert on.stdout.endswith(b"after finish: not stored\n")


def test_stdout_lines_keep_their_order_and_carry_the_step(tmp_path: Path) -> None:
    out = _run(tmp_path, '''
    import sys, threading
    import tracker
    run = tracker.init(project="p", db="runs.db", system=False)
    stored = threading.Event()
    log_console = run.log_console
    def seen(lines):
        log_console(lines)
        if any(line[3] == "at step 5" for line in lines):
            stored.set()
    run.log_console = seen
    for i in range(6):
        run.log({"x": float(i)})
    print("at step 5", flush=True)
    assert stored.wait(60)
    for i in range(6, 10):
        run.log({"x": float(i)})
    print("at step 9")
    ''')
    assert out.returncode == 0, out.stderr
    assert _lines(tmp_path / "runs.db") == [("stdout", "at step 5", 5), ("stdout", "at step 9", 9)]
    with tracker.open_store(tmp_path / "runs.db") as store:
        run = store.runs()[0]
        assert run.status == "finished"  # stopped at exit, then the run finished
        assert [ln.seq for ln in store.console_lines(run.id)] == [0, 1]


def test_fds_are_restored_at_finish_and_a_second_run_captures_again(tmp_path: Path) -> None:
    out = _run(tmp_path, '''
    import os
    import tracker
    def ident(fd):
        st = os.fstat(fd)
        return st.st_dev, st.st_ino
    before = ident(1), ident(2)
    run = tracker.init(project="p", name="first", db="runs.db", system=False)
    during = ident(1), ident(2)
    print("in the first run", flush=True)
    run.finish()
    after = ident(1), ident(2)
    assert during[0] != before[0] and during[1] != before[1], (before, during)
    assert after == before, (before, after)
    with tracker.init(project="p", name="second", db="runs.db", system=False):
        print("in the second run", flush=True)
    assert (ident(1), ident(2)) == before
    ''')
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"in the first run\nin the second run\n"
    with tracker.open_store(tmp_path / "runs.db") as store:
        by_name = {r.name: r.id for r in store.runs()}
        assert [ln.text for ln in store.console_lines(by_name["first"])] == ["in the first run"]
        assert [ln.text for ln in store.console_lines(by_name["second"])] == ["in the second run"]


def test_sigterm_stores_the_lines_restores_the_fds_first_and_marks_the_run_killed(
    tmp_path: Path,
) -> None:
    # An audit hook sees the handler's os.kill (after the run's finish): fds must be back by then.
    script = _script(tmp_path, '''
    import os, sys, signal
    import tracker
    def ident(fd):
        st = os.fstat(fd)
        return st.st_dev, st.st_ino
    before = ident(1), ident(2)
    def audit(event, args):
        if event == "os.kill" and args[1] == signal.SIGTERM:
            with open("fds.txt", "w") as f:
                f.write("restored" if (ident(1), ident(2)) == before else "captured")
    sys.addaudithook(audit)
    run = tracker.init(project="p", db="runs.db", system=False)
    run.log({"loss": 1.0})
    print("ready", flush=True)
    print("last words on stderr", file=sys.stderr, flush=True)
    signal.pause()
    ''')
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"  # the relay passed it: capture is on
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM
    assert err == b"last words on stderr\n"
    assert (tmp_path / "fds.txt").read_text() == "restored"
    with tracker.open_store(tmp_path / "runs.db") as store:
        run = store.runs()[0]
        assert run.status == "killed"
        assert sorted(ln.text for ln in store.console_lines(run.id)) == [
            "last words on stderr", "ready"]


def test_kill_9_keeps_the_lines_stored_before_it(tmp_path: Path) -> None:
    script = _script(tmp_path, '''
    import signal
    import tracker
    run = tracker.init(project="p", db="runs.db", system=False)
    for i in range(100):
        run.log({"loss": 1.0 / (i + 1)})
        print(f"line {i}", flush=True)
    signal.pause()
    ''')
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    for i in range(100):  # the terminal got every line (through the relay)
        assert proc.stdout.readline() == f"line {i}\n".encode()
    db = tmp_path / "runs.db"
    deadline = time.monotonic() + 60  # the writer's background flush (every second) stores them
    while not (db.exists() and _stored_texts(db)[-1:] == ["line 99"]):
        assert time.monotonic() < deadline, "the lines never reached the store"
        time.sleep(0.05)
    proc.kill()
    proc.communicate(timeout=60)
    assert _stored_texts(db) == [f"line {i}" for i in range(100)]


def _stored_texts(db: Path) -> list[str]:
    try:
        with tracker.open_store(db) as store:
            runs = store.runs(last_values=False)
            return [ln.text for ln in store.console_lines(runs[0].id)] if runs else []
    except tracker.TrackerError:  # the store is being created
        return []


def test_a_forked_child_does_not_claim_the_parents_capture(tmp_path: Path) -> None:
    out = _run(tmp_path, '''
    import os, sys
    import tracker
    run = tracker.init(project="p", db="runs.db", system=False)
    run.log({"loss": 1.0})
    pid = os.fork()
    if pid == 0:
        print("from the forked child", flush=True)
        run.log({"child": 1.0})
        sys.exit(0)  # the child's exit finishes its copy of the run: not the capture
    os.waitpid(pid, 0)
    print("parent after the child ended", flush=True)
    ''')
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"from the forked child\nparent after the child ended\n"
    with tracker.open_store(tmp_path / "runs.db") as store:
        run = store.runs()[0]
        assert run.status == "finished"
        assert [ln.text for ln in store.console_lines(run.id)] == [
            "from the forked child", "parent after the child ended"]


def test_system_series_with_a_fake_nvml_come_within_the_first_seconds(tmp_path: Path) -> None:
    out = _run(tmp_path, FAKE_NVML + textwrap.dedent('''
    import threading
    import tracker
    run = tracker.init(project="p", db="runs.db", console=False, system_interval=0.2)
    sampled = threading.Event()
    log_sample = run.log_sample
    def seen(values):
        log_sample(values)
        sampled.set()
    run.log_sample = seen
    run.log({"loss": 0.5}, step=7)
    assert sampled.wait(60)
    run.log({"loss": 0.25})
    '''))
    assert out.returncode == 0, out.stderr
    with tracker.open_store(tmp_path / "runs.db") as store:
        run = store.runs()[0]
        keys = {k.key for k in store.keys(run.id)}
        assert {"sys/cpu_percent", "sys/memory_used_mib", "sys/proc/rss_mib",
                "sys/gpu0/util_percent", "sys/gpu0/memory_used_mib", "sys/gpu0/in_use"} <= keys
        util = store.series(run.id, "sys/gpu0/util_percent")
        assert set(util.values) == {87.0} and set(util.steps) <= {7, 8}
        assert store.series(run.id, "sys/gpu0/memory_percent").values[0] == 37.5
        assert list(store.series(run.id, "loss").steps) == [7, 8]  # samples never moved the step


def test_init_options_turn_either_off_and_check_their_values(tmp_path: Path) -> None:
    out = _run(tmp_path, '''
    import os, threading
    import tracker
    for bad in ({"system_interval": 0}, {"system_interval": float("nan")},
                {"console_max_bytes": -1}, {"system_interval": "10"}):
        try:
            tracker.init(project="p", db="runs.db", **bad)
        except ValueError as err:
            print(err)
        else:
            raise AssertionError(bad)
    fd1 = os.fstat(1).st_ino
    run = tracker.init(project="p", db="runs.db", system=False, console=False)
    assert os.fstat(1).st_ino == fd1
    assert not any(t.name == "tracker-system" for t in threading.enumerate())
    run.finish()
    ''')
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().splitlines() == [
        "system_interval must be a positive number of seconds, not 0",
        "system_interval must be a positive number of seconds, not nan",
        "console_max_bytes must be a number of bytes (0 or more), not -1",
        "system_interval must be a positive number of seconds, not '10'",
    ]
    with tracker.open_store(tmp_path / "runs.db") as store:
        assert len(store.runs()) == 1  # the refused calls created no run


def test_ranks_other_than_zero_capture_nothing(tmp_path: Path) -> None:
    out = _run(tmp_path, '''
    import os, threading
    import tracker
    fd1 = os.fstat(1).st_ino
    run = tracker.init(project="p", db="runs.db")
    assert run.disabled and os.fstat(1).st_ino == fd1
    assert not any(t.name == "tracker-system" for t in threading.enumerate())
    print("rank 1 prints")
    ''', RANK="1")
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"rank 1 prints\n" and not (tmp_path / "runs.db").exists()


def test_console_cap_stores_a_marker_and_keeps_the_terminal(tmp_path: Path) -> None:
    out = _run(tmp_path, '''
    import tracker
    run = tracker.init(project="p", db="runs.db", system=False, console_max_bytes=100)
    for i in range(50):
        print(f"line number {i:03d}")
    ''')
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"".join(f"line number {i:03d}\n".encode() for i in range(50))
    texts = [t for _, t, _ in _lines(tmp_path / "runs.db")]
    assert texts[:6] == [f"line number {i:03d}" for i in range(6)]
    assert len(texts) == 7 and "reached its limit" in texts[-1]


@pytest.mark.parametrize("status", ["ok", "error"])
def test_an_uncaught_exception_is_stored_with_its_traceback(tmp_path: Path, status: str) -> None:
    out = _run(tmp_path, '''
    import tracker
    run = tracker.init(project="p", db="runs.db", system=False)
    run.log({"loss": 1.0})
    if STATUS == "error":
        raise RuntimeError("loss is NaN")
    '''.replace("STATUS", repr(status)))
    with tracker.open_store(tmp_path / "runs.db") as store:
        run = store.runs()[0]
        texts = [ln.text for ln in store.console_lines(run.id, stream="stderr")]
    if status == "error":
        assert out.returncode == 1 and run.status == "failed"
        assert texts[0] == "Traceback (most recent call last):"
        assert texts[-1] == "RuntimeError: loss is NaN"
        assert out.stderr.decode().splitlines() == texts
    else:
        assert out.returncode == 0 and run.status == "finished" and texts == []
