"""Console lines in the store (written as the writer's records, read with filters) and the
`tracker logs` command that prints them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import tracker
from tracker.cli import main
from tracker.run import spill
from tracker.store.backend import ConsoleLines

LINES = [
    ("stdout", 100.0, None, "loading data"),
    ("stderr", 101.0, 0, "warning: 100% of 50_000 rows"),
    ("stdout", 102.0, 3, "step 3 loss 0.5"),
    ("stderr", 103.0, 5, "loss is NaN at step 5"),
    ("stdout", 104.0, 7, "\x1b[31mred\x1b[0m\tand a tab \x07bell"),
]


@pytest.fixture
def db_path(any_store: Path) -> Path:
    """Every test here runs on both backends (SQLite and PostgreSQL)."""
    return any_store


def _run_with_lines(db: Path, batches: list[list[tuple]], **kw) -> str:
    with tracker.init("p", db=db, **kw) as run:
        for batch in batches:
            run.log_console(batch)
    return run.id


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_lines_are_numbered_per_run_across_batches_and_a_resume(db_path: Path) -> None:
    run_id = _run_with_lines(db_path, [LINES[:2], LINES[2:]])
    other = _run_with_lines(db_path, [LINES[:1]])
    with tracker.init("p", db=db_path, resume=run_id) as run:
        run.log_console([("stdout", 200.0, 9, "resumed")])
    with tracker.open_store(db_path) as store:
        lines = store.console_lines(run_id)
        assert [ln.seq for ln in lines] == list(range(6))
        assert [(ln.stream, ln.wall, ln.step, ln.text) for ln in lines] == [*LINES, (
            "stdout", 200.0, 9, "resumed")]
        assert [ln.seq for ln in store.console_lines(other)] == [0]


def test_reads_filter_by_position_stream_text_step_and_count(db_path: Path) -> None:
    run_id = _run_with_lines(db_path, [LINES])
    with tracker.open_store(db_path) as store:
        def texts(**kw) -> list[str]:
            return [ln.text for ln in store.console_lines(run_id, **kw)]

        assert texts(after=2) == [LINES[3][3], LINES[4][3]]
        assert texts(stream="stderr") == [LINES[1][3], LINES[3][3]]
        assert texts(grep="NaN") == [LINES[3][3]]
        assert texts(grep="nan") == []  # case-sensitive, like grep
        assert texts(grep="50_000") == [LINES[1][3]]  # literal: _ and % are no wildcards
        assert texts(grep="100%") == [LINES[1][3]]
        assert texts(since_step=5) == [LINES[3][3], LINES[4][3]]  # no step: before the first log
        assert texts(limit=2) == [LINES[0][3], LINES[1][3]]
        assert texts(limit=2, last=True) == [LINES[3][3], LINES[4][3]]
        assert texts(stream="stdout", since_step=1, grep="loss") == [LINES[2][3]]
        assert store.console_seq_at_step(run_id, 4) == 3
        assert store.console_seq_at_step(run_id, 8) is None
        with pytest.raises(ValueError, match="stdout"):
            store.console_lines(run_id, stream="both")


def test_deleting_a_run_deletes_its_lines(db_path: Path) -> None:
    run_id = _run_with_lines(db_path, [LINES])
    with tracker.open_store(db_path) as store:
        store.delete_runs([run_id])
        assert store.console_lines(run_id) == []


def test_lines_the_store_could_not_take_survive_in_a_spill_file(db_path: Path) -> None:
    run_id = _run_with_lines(db_path, [])
    data = spill.Spilled(run_id, [], None, [ConsoleLines(LINES)], "finished", 1.0)
    path = spill.write(db_path, data)
    back = spill.load(path)
    assert back.records == [ConsoleLines(LINES)]
    assert spill.sizes(back.records) > sum(len(t) for *_, t in LINES)
    tracker.init("q", db=db_path).finish()  # the next writer writes the spill file in
    with tracker.open_store(db_path) as store:
        assert [ln.text for ln in store.console_lines(run_id)] == [t for *_, t in LINES]


def test_logs_prints_lines_literally_and_filters(db_path: Path) -> None:
    run_id = _run_with_lines(db_path, [LINES])
    out = invoke("logs", run_id[:6], "--db", str(db_path))
    assert out.exit_code == 0
    assert out.output.splitlines() == [
        "loading data", "warning: 100% of 50_000 rows", "step 3 loss 0.5",
        "loss is NaN at step 5",
        "red     and a tab \ufffdbell",  # colours dropped, tab expanded, BEL shown as a mark
    ]
    assert "\x1b" not in out.output and "\x07" not in out.output
    assert invoke("logs", run_id, "--db", str(db_path), "--grep", "NaN",
                  "--stream", "stderr").output == "loss is NaN at step 5\n"
    assert invoke("logs", run_id, "--db", str(db_path), "--since", "4").output.splitlines() == [
        "loss is NaN at step 5", "red     and a tab \ufffdbell"]
    assert invoke("logs", run_id, "--db", str(db_path), "-n", "1",
                  "--stream", "stdout").output.splitlines() == ["red     and a tab \ufffdbell"]
    assert invoke("--db", str(db_path), "logs", run_id, "--grep", "absent").output == ""


def test_logs_errors_are_one_line(db_path: Path, tmp_path: Path) -> None:
    _run_with_lines(db_path, [LINES])
    out = invoke("logs", "nope", "--db", str(db_path))
    assert out.exit_code == 2 and out.output == (
        "tracker: no run matches 'nope'; see `tracker ls` for ids\n")
    out = invoke("logs", "nope", "--db", str(tmp_path / "missing.db"))
    assert out.exit_code == 2 and out.output.startswith("tracker: ") and out.output.count("\n") == 1
    out = invoke("logs", "x", "--db", str(db_path), "--stream", "both")
    assert out.exit_code == 2 and "Traceback" not in out.output


def _follower(db: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(tracker.__file__).resolve().parent.parent)}
    return subprocess.Popen([sys.executable, "-m", "tracker.cli", "logs", *args, "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def test_logs_follow_prints_new_lines_until_the_run_ends(db_path: Path) -> None:
    run = tracker.init("p", db=db_path)
    run.log_console([("stdout", 1.0, None, "before the follower")])
    run.flush()
    follower = _follower(db_path, run.id, "-f", "--stream", "stdout")
    assert follower.stdout is not None
    assert follower.stdout.readline() == b"before the follower\n"
    for i in range(3):
        run.log_console([("stderr", 2.0, i, f"err {i}"), ("stdout", 2.0, i, f"out {i}")])
        run.flush()
        assert follower.stdout.readline() == f"out {i}\n".encode()
    run.log_console([("stdout", 3.0, 9, "the last line")])
    run.finish()  # the follower prints the last line, sees the run ended, and exits
    out, err = follower.communicate(timeout=60)
    assert (follower.returncode, out, err) == (0, b"the last line\n", b"")


def test_logs_follow_stops_on_ctrl_c_without_a_traceback(db_path: Path) -> None:
    run = tracker.init("p", db=db_path)
    run.log_console([("stdout", 1.0, None, "going")])
    run.flush()
    follower = _follower(db_path, run.id, "-f")
    assert follower.stdout is not None and follower.stdout.readline() == b"going\n"
    follower.send_signal(signal.SIGINT)
    out, err = follower.communicate(timeout=60)
    run.finish()
    assert follower.returncode == 130 and err == b"" and out == b""
