"""Export into a shared or interrupted folder: links planted in OUT, kill -9 midway, bad selections."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.errors import TrackerError
from tracker.tensorboard.export import export_tensorboard
from tracker.tensorboard.state import LOCK_FILE, STATE_FILE

STEPS = 2000


def _runs(db: Path, names: tuple[str, ...] = ("a", "b"), steps: int = STEPS) -> list[str]:
    ids = []
    for name in names:
        run = tracker.init("p", name=name, db=db)
        at = np.arange(steps)
        run.log_series("loss", at, 1.0 / (at + 1), 1_700_000_000.0 + at)
        run.log_series("acc", at, at / steps, 1_700_000_000.0 + at)
        run.finish()
        ids.append(run.id)
    return ids


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracker.cli", *args], capture_output=True,
                          text=True)


# -- links planted in a shared OUT ----------------------------------------------------------------

def test_a_link_planted_at_the_state_files_temporary_name_is_not_followed(
    db_path: Path, tmp_path: Path
) -> None:
    _runs(db_path, ("a",), 10)
    out, victim = tmp_path / "shared", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("precious")
    os.symlink(victim, out / (STATE_FILE + ".tmp"))

    export_tensorboard(out, db=db_path)

    assert victim.read_text() == "precious"
    assert (out / STATE_FILE).is_file() and not (out / STATE_FILE).is_symlink()


def test_a_trace_file_planted_as_a_link_is_replaced_not_written_through(
    db_path: Path, tmp_path: Path
) -> None:
    run = tracker.init("p", name="r", db=db_path)
    run.log({"loss": 1.0})
    run.log_profile(tracker.Profile(name="t", framework="torch", trace=b'{"traceEvents": []}',
                                    trace_format="torch_chrome_json", trace_name="worker0"))
    run.finish()
    out, victim = tmp_path / "shared", tmp_path / "victim.txt"
    victim.write_text("precious")
    with tracker.open_store(db_path) as store:
        (prof,) = store.profiles(run.id)
    run_dir = out / "p" / f"r-{run.id}"
    run_dir.mkdir(parents=True)
    name = f"worker0.{int(prof.created * 1e9) + prof.id}.pt.trace.json.gz"  # predictable
    os.symlink(victim, run_dir / name)
    os.symlink(victim, run_dir / "events.out.tfevents.0000000001.host.1.tracker")

    summary = export_tensorboard(out, db=db_path)

    assert summary.profiles == 1
    assert victim.read_text() == "precious"
    assert (run_dir / name).is_file() and not (run_dir / name).is_symlink()
    assert not os.path.lexists(run_dir / "events.out.tfevents.0000000001.host.1.tracker")


@pytest.mark.parametrize("planted", ["lock", "state", "project", "profile folder"])
def test_links_to_folders_or_the_lock_outside_out_are_refused(
    db_path: Path, tmp_path: Path, planted: str
) -> None:
    run = tracker.init("p", name="r", db=db_path)
    run.log({"loss": 1.0})
    run.log_profile(tracker.Profile(name="x", framework="jax", trace=b"xplane bytes",
                                    trace_format="xplane", trace_name="host"))
    run.finish()
    out, elsewhere = tmp_path / "shared", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    if planted == "lock":
        os.symlink(elsewhere / "lock", out / LOCK_FILE)
    elif planted == "state":
        (elsewhere / "theirs.json").write_text('{"version": 1, "runs": {}}')
        os.symlink(elsewhere / "theirs.json", out / STATE_FILE)
    elif planted == "project":
        os.symlink(elsewhere, out / "p")
    else:
        (out / "p" / f"r-{run.id}").mkdir(parents=True)
        os.symlink(elsewhere, out / "p" / f"r-{run.id}" / "plugins")

    proc = _cli("export", "tensorboard", str(out), "--db", str(db_path))

    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("tracker: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "symbolic link" in proc.stderr
    kept = ["theirs.json"] if planted == "state" else []
    assert sorted(p.name for p in elsewhere.iterdir()) == kept  # nothing written through the link


# -- an export killed midway, then run again ------------------------------------------------------

_KILLED_EXPORT = r'''
import os, signal, sys
import tracker
from tracker.tensorboard import export, records

where = sys.argv[3]
if where == "mid-file":  # after 100 events of the first file are on disk
    original = records.RecordWriter.write_framed
    calls = [0]
    def write_framed(self, data):
        original(self, data)
        calls[0] += 1
        if calls[0] == 100:
            self.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    records.RecordWriter.write_framed = write_framed
else:  # the first run's file is complete, the state that counts it not yet saved
    export.save_state = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
tracker.export_tensorboard(sys.argv[1], db=sys.argv[2])
'''


@pytest.mark.parametrize("where", ["mid-file", "before the state is saved"])
def test_an_export_killed_midway_and_run_again_writes_every_event_once(
    db_path: Path, tmp_path: Path, where: str, tb_steps
) -> None:
    _runs(db_path)
    out = tmp_path / "tb"
    killed = subprocess.run([sys.executable, "-c", _KILLED_EXPORT, str(out), str(db_path), where],
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert list(out.rglob("*")), "the killed export wrote nothing: the test tests nothing"

    again = _cli("export", "tensorboard", str(out), "--db", str(db_path))

    assert again.returncode == 0, again.stderr
    assert "exported 2 run(s)" in again.stdout
    runs = tb_steps(out)
    assert len(runs) == 2
    for tags in runs.values():
        assert sorted(tags) == ["acc", "loss"]
        for steps in tags.values():
            assert sorted(steps) == list(range(STEPS))  # each event exactly once
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


# -- selections that name nothing, and failed exports ---------------------------------------------

def test_a_selection_that_names_nothing_is_an_error_and_creates_nothing(
    db_path: Path, tmp_path: Path
) -> None:
    ids = _runs(db_path, ("a",), 10)
    out = tmp_path / "deep" / "tb"
    cases = {
        ("--project", "typo"): "project 'typo' has no runs; the projects are 'p'",
        ("--runs", "nope"): "no run matches 'nope'",
        ("--runs", ids[0], "--project", "other"): "project 'other' has no runs",
        ("--runs", ",",): "a --runs value is empty",
    }
    for args, message in cases.items():
        proc = _cli("export", "tensorboard", str(out), "--db", str(db_path), *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith("tracker: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert message in proc.stderr, proc.stderr
        assert not (tmp_path / "deep").exists(), args

    later = _cli("export", "tensorboard", str(out), "--db", str(db_path), "--since", "2999-01-01")
    assert later.returncode == 0 and "no runs started since 2999-01-01" in later.stdout
    assert not (tmp_path / "deep").exists()


def test_a_first_export_that_fails_leaves_no_folder_behind(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker.tensorboard import export

    _runs(db_path, ("a",), 10)
    out = tmp_path / "new" / "tb"

    def interrupted(*args: object, **kwargs: object) -> list[bytes]:
        raise KeyboardInterrupt  # Ctrl-C in the middle of the first run

    monkeypatch.setattr(export, "scalar_records", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_tensorboard(out, db=db_path)
    assert not (tmp_path / "new").exists()

    (tmp_path / "kept").mkdir()
    with pytest.raises(KeyboardInterrupt):  # a folder that was there stays, with no event file
        export_tensorboard(tmp_path / "kept", db=db_path)
    assert [p.name for p in (tmp_path / "kept").rglob("*") if p.is_file()] == [LOCK_FILE]


def test_an_empty_store_is_an_error(db_path: Path, tmp_path: Path) -> None:
    run = tracker.init("p", name="r", db=db_path)
    run.finish()
    with tracker.open_store(db_path) as store:
        store.delete_runs([run.id])

    with pytest.raises(TrackerError, match="has no runs yet"):
        export_tensorboard(tmp_path / "tb", db=db_path, project="p")
    assert not (tmp_path / "tb").exists()
