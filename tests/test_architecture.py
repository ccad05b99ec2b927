"""The layering rules of DESIGN.md, checked at run time: the core imports no framework and no UI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "tensorflow", "jax", "keras", "textual", "tensorboardX", "tensorboard",
         "transformers", "accelerate")


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_tracker_imports_nothing_heavy() -> None:
    loaded = _modules_after("import tracker")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert "numpy" not in loaded and "sqlite3" not in loaded  # everything loads on first use


def test_the_run_contract_and_notices_import_nothing_of_the_run_side() -> None:
    loaded = _modules_after("import tracker.contract, tracker.notices")
    assert not loaded & {*HEAVY, "numpy", "sqlite3"}, loaded & {*HEAVY, "numpy", "sqlite3"}
    probe = "import sys, tracker.contract, tracker.notices\nprint(sorted(m for m in sys.modules if m.startswith('tracker.')))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['tracker.contract', 'tracker.notices']"


def test_logging_a_run_imports_no_framework(tmp_path) -> None:
    code = (
        "import tracker\n"
        f"run = tracker.init('p', db={str(tmp_path / 'x.db')!r})\n"
        "run.log({'loss': 1.0}); run.finish()\n"
        "s = tracker.open_store(run.db_path); s.runs(); s.series(run.id, 'loss')"
    )
    loaded = _modules_after(code)
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_cli_listing_imports_no_framework_or_app(tmp_path) -> None:
    code = (
        "import sys\nfrom tracker import cli\n"
        f"sys.argv = ['tracker', 'ls', '--db', {str(tmp_path / 'none.db')!r}]\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass"
    )
    loaded = _modules_after(code)
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_import_tracker_is_fast() -> None:
    code = (
        "import time; t = time.perf_counter(); import tracker; "
        "print(time.perf_counter() - t)"
    )
    times = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        times.append(float(out.stdout))
    assert min(times) < 0.15, times


ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold() -> None:
    """pyproject.toml's import-linter contracts (layers, no SQL outside the store, ...)."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_only_the_store_imports_sqlite3() -> None:
    offenders = [
        str(path.relative_to(ROOT)) for path in (ROOT / "tracker").rglob("*.py")
        if "tracker/store/" not in path.as_posix()
        and ("import sqlite3" in path.read_text() or "sqlite3." in path.read_text())
    ]
    assert offenders == []


def test_free_threaded_python_is_refused_in_one_line(tmp_path) -> None:
    code = (
        "import sys, tracker\nsys._is_gil_enabled = lambda: False\n"
        f"tracker.init('p', db={str(tmp_path / 'x.db')!r})"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "free-threaded" in last and "PYTHON_GIL=1" in last
