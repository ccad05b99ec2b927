"""What the examples print: the exact command that browses their store, and no native noise."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import tracker

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROFILER_NOISE = "Memory block of unknown size"


def run_example(name: str, db: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLES / name), "--db", str(db), *args],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def spaced_db(tmp_path: Path) -> Path:
    return tmp_path / "my runs" / "it's.db"  # a path the shell would split or choke on


def test_torch_example_prints_the_browse_command_and_no_profiler_warning(spaced_db: Path) -> None:
    out = run_example("torch_mnist_like.py", spaced_db, "--steps", "110")
    assert out.returncode == 0, out.stderr
    assert f"browse it with: tracker --db {shlex.quote(str(spaced_db))}\n" in out.stdout
    assert PROFILER_NOISE not in out.stderr, out.stderr
    with tracker.open_store(spaced_db) as store:
        (run,) = store.runs()
        assert len(store.profiles(run.id)) == 1  # the profile window did run


@pytest.mark.slow
def test_jax_example_prints_the_browse_command(spaced_db: Path) -> None:
    out = run_example("jax_mlp.py", spaced_db, "--steps", "20")
    assert out.returncode == 0, out.stderr
    assert f"browse it with: tracker --db {shlex.quote(str(spaced_db))}\n" in out.stdout


@pytest.mark.slow
def test_keras_example_prints_the_browse_command(spaced_db: Path) -> None:
    out = run_example("keras_mnist_like.py", spaced_db, "--epochs", "1",
                      env={"KERAS_BACKEND": "jax"})
    assert out.returncode == 0, out.stderr
    assert f"browse it with: tracker --db {shlex.quote(str(spaced_db))}\n" in out.stdout


PROFILED_LOOP = """
import os, sys
import torch
import tracker
from tracker.hooks.torch import profile

torch.set_num_threads(1)
model = torch.nn.Linear(8, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
run = tracker.init("p", db=sys.argv[1])
x = torch.randn(4, 8)
with profile(run, steps=3):
    for step in range(6):
        model(x).sum().backward()
        opt.step()
        opt.zero_grad()  # frees gradients allocated before the profiler started
        print(f"python line {step}", file=sys.stderr, flush=True)
        os.write(2, f"native line {step}\\n".encode())
run.finish()
"""


def test_profiling_drops_the_allocator_warning_and_keeps_other_stderr(db_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", PROFILED_LOOP, str(db_path)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert PROFILER_NOISE not in out.stderr, out.stderr
    for step in range(6):
        assert f"python line {step}\n" in out.stderr and f"native line {step}\n" in out.stderr
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        assert len(store.profiles(run.id)) == 1
