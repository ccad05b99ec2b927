"""``tracker export tensorboard`` and ``tracker import tensorboard`` from the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import tracker
from tracker.cli import main


def _runs(db: Path, names: list[str]) -> list[str]:
    ids = []
    for name in names:
        run = tracker.init("p", name=name, db=db)
        run.log({"loss": 0.5}, step=1)
        run.finish()
        ids.append(run.id)
    return ids


def test_export_then_import_through_the_cli(db_path: Path, tmp_path: Path) -> None:
    ids = _runs(db_path, ["one", "two", "three"])
    out = tmp_path / "tb"
    runner = CliRunner()

    result = runner.invoke(main, ["export", "tensorboard", str(out), "--db", str(db_path),
                                  "--runs", f"{ids[0]},two"])
    assert result.exit_code == 0, result.output
    assert "exported 2 run(s): 2 scalars" in result.output and "tensorboard --logdir" in result.output

    quiet = runner.invoke(main, ["export", "tensorboard", str(out), "--db", str(db_path), "-q"])
    assert quiet.exit_code == 0 and quiet.output == ""  # scripts get silence
    assert len(list(out.rglob("events.out.tfevents.*"))) == 3

    back = tmp_path / "back.db"
    result = runner.invoke(main, ["import", "tensorboard", str(out), "--db", str(back),
                                  "--project", "imported"])
    assert result.exit_code == 0, result.output
    assert "imported 3 run(s): 3 scalars" in result.output
    with tracker.open_store(back) as store:
        assert {r.project for r in store.runs()} == {"imported"}


def test_user_errors_are_one_line_and_exit_2(db_path: Path, tmp_path: Path) -> None:
    _runs(db_path, ["one"])
    cases = [
        ["export", "tensorboard", str(tmp_path / "tb"), "--db", str(db_path), "--since", "soon"],
        ["export", "tensorboard", str(tmp_path / "tb"), "--db", str(db_path), "--runs", "nope"],
        ["export", "tensorboard", str(tmp_path / "tb"), "--db", str(tmp_path / "missing.db")],
        ["import", "tensorboard", str(tmp_path / "empty"), "--db", str(db_path)],
    ]
    (tmp_path / "empty").mkdir()
    for args in cases:
        proc = subprocess.run([sys.executable, "-m", "tracker.cli", *args], capture_output=True,
                              text=True)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith("tracker: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "missing.db").exists()


def test_damaged_records_are_warnings_not_failures(db_path: Path, tmp_path: Path) -> None:
    _runs(db_path, ["one"])
    out = tmp_path / "tb"
    tracker.export_tensorboard(out, db=db_path)
    (path,) = out.rglob("events.out.tfevents.*")
    path.write_bytes(path.read_bytes()[:-5])

    result = CliRunner().invoke(main, ["import", "tensorboard", str(out), "--db",
                                       str(tmp_path / "back.db")])

    assert result.exit_code == 0
    assert "warning:" in result.output and "truncated" in result.output
