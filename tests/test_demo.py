"""The demo store: `python -m tracker.demo FILE` writes the seeded runs the docs tell users to try."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tracker
from tracker.demo import RUNS


def test_python_m_tracker_demo_writes_the_demo_runs(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    out = subprocess.run([sys.executable, "-m", "tracker.demo", str(db)], capture_output=True,
                         text=True, check=True)
    ids = out.stdout.split()
    with tracker.open_store(db) as store:
        runs = store.runs()
    assert sorted(r.id for r in runs) == sorted(ids) and len(ids) == len(RUNS)
    assert {r.name for r in runs} == {name for _, name, *_ in RUNS}


def test_without_a_file_it_says_how_to_run_it() -> None:
    out = subprocess.run([sys.executable, "-m", "tracker.demo"], capture_output=True, text=True)
    assert out.returncode == 1 and out.stderr.strip() == "usage: python -m tracker.demo FILE.db"
