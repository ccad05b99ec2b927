"""Capture scenarios run in a fresh Python process; the fixtures collect what the terminal and the sink got."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import tracker

REPO = Path(tracker.__file__).resolve().parent.parent

# Every scenario starts with this: a sink that persists each batch (as a run's writer would) and
# lets the script wait until a line has been stored.
PRELUDE = '''
import json, os, signal, subprocess, sys, threading
from tracker.capture.console import ConsoleCapture

LINES_PATH, RESULT_PATH = sys.argv[1], sys.argv[2]
_lines_file = open(LINES_PATH, "a", buffering=1)
_seen = threading.Condition()
_texts = []
STEP = [None]

def sink(lines):
    for line in lines:
        _lines_file.write(json.dumps(
            {"stream": line.stream, "time": line.time, "step": line.step, "text": line.text}
        ) + "\\n")
    _lines_file.flush()
    with _seen:
        _texts.extend(line.text for line in lines)
        _seen.notify_all()

def wait_for(text):
    """Block until the sink has stored a line equal to text (exit 99 if it never comes)."""
    with _seen:
        if not _seen.wait_for(lambda: text in _texts, timeout=60):
            os._exit(99)

def result(**values):
    with open(RESULT_PATH, "w") as f:
        json.dump(values, f)

def vm_kib(field, pid="self"):
    with open(f"/proc/{pid}/status") as f:
        for row in f:
            if row.startswith(field + ":"):
                return int(row.split()[1])
'''


@dataclass
class Outcome:
    rc: int
    stdout: bytes
    stderr: bytes
    lines: list[dict]
    result: dict

    def texts(self, stream: str | None = None) -> list[str]:
        return [ln["text"] for ln in self.lines if stream is None or ln["stream"] == stream]


def env() -> dict[str, str]:
    """The tree under test first; Python's own buffering as a user gets it (no PYTHONUNBUFFERED)."""
    values = {**os.environ, "PYTHONPATH": str(REPO)}
    values.pop("PYTHONUNBUFFERED", None)
    return values


def script(tmp_path: Path, body: str) -> tuple[Path, list[str]]:
    path = tmp_path / "scenario.py"
    path.write_text(PRELUDE + textwrap.dedent(body))
    return path, [str(tmp_path / "lines.jsonl"), str(tmp_path / "result.json")]


def collect(tmp_path: Path, rc: int, out: bytes, err: bytes) -> Outcome:
    lines_path = tmp_path / "lines.jsonl"
    result_path = tmp_path / "result.json"
    lines = [json.loads(r) for r in lines_path.read_text().splitlines()] if lines_path.exists() else []
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    return Outcome(rc, out, err, lines, result)


def run(tmp_path: Path, body: str, *extra: str, timeout: float = 120) -> Outcome:
    """Run the scenario with pipes as its terminal; waits for EOF (the relay included)."""
    path, args = script(tmp_path, body)
    proc = subprocess.run(
        [sys.executable, str(path), *args, *extra], capture_output=True, env=env(), timeout=timeout
    )
    return collect(tmp_path, proc.returncode, proc.stdout, proc.stderr)


class Scenarios:
    """``run(body)``: the scenario with pipes as its terminal; ``script(body)``: its path and
    arguments, for tests that start it themselves (a pty, signals)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def run(self, body: str, *extra: str, timeout: float = 120) -> Outcome:
        return run(self.tmp_path, body, *extra, timeout=timeout)

    def script(self, body: str) -> tuple[Path, list[str]]:
        return script(self.tmp_path, body)

    def collect(self, rc: int, out: bytes, err: bytes) -> Outcome:
        return collect(self.tmp_path, rc, out, err)

    @staticmethod
    def env() -> dict[str, str]:
        return env()


@pytest.fixture
def scenarios(tmp_path: Path) -> Scenarios:
    return Scenarios(tmp_path)
