"""The tracker command: every command, its help, and a one-line error + exit 2 for bad stores."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner

import tracker
from tracker.cli import main
from tracker.store import SCHEMA_VERSION, connection, pool


@pytest.fixture
def store_with_runs(db_path):
    with tracker.init("mnist", "baseline", config={"lr": 0.001}, db=db_path, tags=["base"]) as a:
        for i in range(10):
            a.log({"loss": 1.0 / (i + 1), "acc": i / 10})
        a.log_text("notes", "[bold red]x")
    with tracker.init("cifar", "[red]fancy[/red]", db=db_path) as b:
        b.log({"loss": 0.5})
    return db_path, a.id, b.id


def invoke(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_ls_table_and_json(store_with_runs):
    db, a, b = store_with_runs
    out = invoke("ls", "--db", str(db))
    assert out.exit_code == 0
    assert a in out.output and b in out.output and "[red]fancy[/red]" in out.output
    data = json.loads(invoke("ls", "--db", str(db), "--json").output)
    assert [r["id"] for r in data] == [b, a]
    assert data[1]["last"] == {"loss": 0.1, "acc": 0.9} and data[1]["config"] == {"lr": 0.001}
    only = json.loads(invoke("ls", "--db", str(db), "--json", "--project", "cifar").output)
    assert [r["id"] for r in only] == [b]


def test_ls_empty_store(db_path):
    tracker.init("p", db=db_path).finish()
    tracker.open_store(db_path).delete_runs([r.id for r in tracker.open_store(db_path).runs()])
    assert invoke("ls", "--db", str(db_path)).output.strip() == "no runs yet"


def test_show_by_id_prefix_and_name(store_with_runs):
    db, a, _ = store_with_runs
    out = invoke("show", a[:5], "--db", str(db))
    assert out.exit_code == 0 and "baseline" in out.output and '"lr": 0.001' in out.output
    data = json.loads(invoke("show", "baseline", "--db", str(db), "--json").output)
    assert data["id"] == a
    assert {k["key"]: k["count"] for k in data["keys"]} == {"acc": 10, "loss": 10, "notes": 1}


def test_rm_asks_unless_yes(store_with_runs):
    db, a, b = store_with_runs
    out = invoke("rm", a, "--db", str(db), input="n\n")
    assert out.exit_code == 1 and "Aborted" in out.output
    assert len(tracker.open_store(db).runs()) == 2
    out = invoke("rm", a, "--db", str(db), input="y\n")
    assert out.exit_code == 0 and "deleted 1 run" in out.output
    out = invoke("rm", b, "--db", str(db), "--yes")
    assert out.exit_code == 0
    assert tracker.open_store(db).runs() == []


def test_default_command_opens_the_app_or_lists(store_with_runs, monkeypatch):
    db, a, _ = store_with_runs
    opened = []
    try:
        import tracker.tui.app as app_module
    except ImportError:
        out = invoke("--db", str(db))
        assert a in out.output
        return
    monkeypatch.setattr(app_module, "run_app", lambda path: opened.append(path))
    assert invoke("--db", str(db)).exit_code == 0
    assert invoke("ui", "--db", str(db)).exit_code == 0
    assert opened == [str(db), str(db)]


def _error(args, db):
    out = CliRunner().invoke(main, [*args, "--db", str(db)])
    assert out.exit_code == 2, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tracker: "), out.output
    assert "Traceback" not in out.output
    return lines[0]


@pytest.mark.parametrize("args", [["ls"], ["show", "x"], ["rm", "x", "--yes"], ["ui"]])
def test_errors_are_one_line_with_exit_2(tmp_path, args, monkeypatch):
    monkeypatch.setattr(connection, "BUSY_TIMEOUT_S", 0.2)
    assert "no store" in _error(args, tmp_path / "missing.db")
    bad = tmp_path / "bad.db"
    bad.write_text("not sqlite at all" * 50)
    assert "corrupt" in _error(args, bad)
    newer = tmp_path / "newer.db"
    tracker.init("p", db=newer).finish()
    sqlite3.connect(newer).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}").connection.close()
    assert "upgrade" in _error(args, newer)
    locked = tmp_path / "locked.db"
    tracker.init("p", db=locked).finish()
    pool.close_all()  # the finished run's idle connection would keep the file in WAL mode
    holder = sqlite3.connect(locked, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    assert "locked" in _error(args, locked)
    holder.execute("ROLLBACK")


def test_unknown_run_is_exit_2(store_with_runs):
    db, _, _ = store_with_runs
    assert "no run matches" in _error(["show", "nope"], db)


def test_every_command_has_help_with_an_example():
    for name, command in main.commands.items():
        out = invoke(name, "--help")
        assert out.exit_code == 0, name
        if not getattr(command, "commands", None):  # leaf commands carry an example
            assert "Example:" in out.output, name


def test_console_script_runs_as_a_process(store_with_runs):
    db, a, _ = store_with_runs
    exe = [sys.executable, "-m", "tracker.cli"]
    out = subprocess.run([*exe, "ls", "--db", str(db)], capture_output=True, text=True)
    assert out.returncode == 0 and a in out.stdout
    out = subprocess.run([*exe, "ls", "--db", str(db) + ".missing"], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.startswith("tracker: no store")
