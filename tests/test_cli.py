"""The tracker command: every command, its help, and a one-line error + exit 2 for bad stores."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import tracker
from tests.store_sql import execute
from tracker.cli import main
from tracker.store.sqlite import SCHEMA_VERSION, connection, pool, schema


@pytest.fixture
def db_path(any_store: Path) -> Path:
    """Every test here runs on both backends (SQLite and PostgreSQL), but for those that edit
    a SQLite file behind the store's back (``sqlite_path``)."""
    return any_store


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "tracker.db"


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
    import tracker.tui.app as app_module

    monkeypatch.setattr(app_module, "run_app", lambda path: opened.append(path))
    assert invoke("--db", str(db)).exit_code == 0
    assert invoke("ui", "--db", str(db)).exit_code == 0
    assert opened == [str(db), str(db)]


def test_the_app_opens_on_a_store_that_does_not_exist_yet(tmp_path, monkeypatch):
    import tracker.tui.app as app_module

    opened = []
    monkeypatch.setattr(app_module, "run_app", lambda path: opened.append(path))
    missing = tmp_path / "new.db"
    out = invoke("--db", str(missing))
    assert out.exit_code == 0, out.output
    assert opened == [str(missing)] and not missing.exists()  # the app waits; it never creates


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
    if args != ["ui"]:  # the app opens on a store that does not exist yet (next test)
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
    expected = "tracker: no store" if isinstance(db, Path) else "tracker: cannot connect to"
    assert out.returncode == 2 and out.stderr.startswith(expected)
    assert out.stderr.count("\n") == 1


# -- as a user types it: subprocesses of `python -m tracker.cli` ---------------------------------
def tracker_cmd(*args: str, cwd=None, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracker.cli", *args], capture_output=True,
                          text=True, cwd=cwd, input=input, timeout=120)


def one_line_error(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tracker: "), out.stderr
    return lines[0]


def names_in(db) -> list[str]:
    with tracker.open_store(db) as store:
        return sorted(r.name for r in store.runs())


def test_db_before_the_command_selects_the_store(tmp_path, monkeypatch, db_path):
    # the other store: a file named relative to the folder, or the PostgreSQL database
    default = tmp_path / "tracker.db"
    other = tmp_path / "other.db" if isinstance(db_path, Path) else db_path
    spelled = "other.db" if isinstance(db_path, Path) else os.fspath(db_path)
    for db in (default, other):
        with tracker.init("p", "baseline", db=db) as run:
            run.log({"loss": 1.0})
        tracker.init("p", "keep", db=db).finish()
    with tracker.open_store(other) as store:
        other_id = store.run("baseline").id
    out = tracker_cmd("--db", spelled, "ls", cwd=tmp_path)
    assert out.returncode == 0 and other_id in out.stdout, out.stderr
    out = tracker_cmd("--db", spelled, "show", other_id[:6], cwd=tmp_path)
    assert out.returncode == 0 and "baseline" in out.stdout, out.stderr
    out = tracker_cmd("--db", spelled, "export", "tensorboard", "tb", "--runs", "baseline",
                      cwd=tmp_path)
    assert out.returncode == 0 and "exported 1 run" in out.stdout, out.stderr
    out = tracker_cmd("--db", "imported.db", "import", "tensorboard", "tb", cwd=tmp_path)
    assert out.returncode == 0 and (tmp_path / "imported.db").exists(), out.stderr
    out = tracker_cmd("--db", spelled, "rm", "baseline", "--yes", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert names_in(other) == ["keep"] and names_in(default) == ["baseline", "keep"]
    # the same file spelled twice is fine; two different files are a one-line error
    out = tracker_cmd("--db", spelled, "ls", "--db", str(other), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    line = one_line_error(tracker_cmd("--db", spelled, "rm", "keep", "--yes", "--db",
                                      "tracker.db", cwd=tmp_path))
    assert "--db" in line and str(other.name if isinstance(other, Path) else other) in line
    assert "tracker.db" in line
    line = one_line_error(tracker_cmd("--db", spelled, "export", "tensorboard", "tb2", "--db",
                                      "tracker.db", cwd=tmp_path))
    assert "--db" in line and not (tmp_path / "tb2").exists()
    assert names_in(other) == ["keep"] and names_in(default) == ["baseline", "keep"]
    # the app (in process: it needs a terminal) opens the store named before `ui` too
    import tracker.tui.app as app_module

    opened = []
    monkeypatch.setattr(app_module, "run_app", lambda path: opened.append(path))
    monkeypatch.chdir(tmp_path)
    assert invoke("--db", spelled, "ui").exit_code == 0
    assert opened == [spelled]


def test_db_naming_a_directory_is_one_line(tmp_path):
    for args in (["ls", "--db", str(tmp_path)], ["--db", str(tmp_path), "ls"],
                 ["show", "x", "--db", str(tmp_path)]):
        assert "is a directory" in one_line_error(tracker_cmd(*args))


def foreign_sqlite(path) -> bytes:
    """An SQLite file another program made (rollback journal, its own tables)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('mine')")
    conn.commit()
    conn.close()
    return path.read_bytes()


def test_reading_a_foreign_sqlite_file_leaves_it_byte_identical(tmp_path):
    app_db = tmp_path / "other-app.db"
    before = foreign_sqlite(app_db)
    for args in (["ls"], ["ls", "--json"], ["show", "x"], ["rm", "x", "--yes"],
                 ["export", "tensorboard", str(tmp_path / "tb")], ["migrate"]):
        line = one_line_error(tracker_cmd(*args, "--db", str(app_db)))
        assert "not a tracker store" in line, args
    with pytest.raises(tracker.StoreError, match="not a tracker store"):
        tracker.init("p", db=app_db)
    assert app_db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other-app.db"]  # no -wal, no tb/


def test_an_empty_file_reads_as_a_store_with_no_runs_and_stays_empty(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    out = tracker_cmd("ls", "--db", str(empty))
    assert (out.returncode, out.stdout.strip()) == (0, "no runs yet"), out.stderr
    assert json.loads(tracker_cmd("ls", "--json", "--db", str(empty)).stdout) == []
    assert "no run matches" in one_line_error(tracker_cmd("show", "x", "--db", str(empty)))
    with tracker.open_store(empty) as store:
        assert store.runs() == [] and store.projects() == []
    assert empty.stat().st_size == 0
    tracker.init("p", "first", db=empty).finish()  # a writer makes its store in an empty file
    assert names_in(empty) == ["first"]


def test_an_older_store_is_upgraded_by_migrate_not_by_readers(sqlite_path, monkeypatch):
    tracker.init("p", "old", db=sqlite_path).finish()
    pool.close_all()
    before = sqlite_path.read_bytes()
    # this tracker's schema is one version newer than the store's
    monkeypatch.setattr(connection, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(schema.MIGRATIONS, SCHEMA_VERSION,
                        lambda conn: conn.execute("CREATE TABLE added_later (x)"))
    for args in (["ls"], ["show", "old"], ["ui"]):
        line = _error(args, sqlite_path)
        assert "older tracker" in line and f"tracker migrate --db {sqlite_path}" in line
    with pytest.raises(tracker.StoreError, match="tracker migrate"):
        tracker.open_store(sqlite_path)
    assert sqlite_path.read_bytes() == before
    out = invoke("migrate", "--db", str(sqlite_path))
    assert out.exit_code == 0 and f"to {SCHEMA_VERSION + 1}" in out.output
    assert "up to date" in invoke("--db", str(sqlite_path), "migrate").output
    assert names_in(sqlite_path) == ["old"]
    version = sqlite3.connect(sqlite_path).execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION + 1


def test_an_empty_run_reference_is_an_error_everywhere(tmp_path, db_path):
    with tracker.init("p", "only", db=db_path) as run:
        run.log({"loss": 1.0})
    for ref in ("", "  "):
        assert "empty" in one_line_error(tracker_cmd("rm", ref, "--yes", "--db", str(db_path)))
        assert "empty" in one_line_error(tracker_cmd("show", ref, "--db", str(db_path)))
        out = tracker_cmd("export", "tensorboard", str(tmp_path / "tb"), "--runs", ref,
                          "--db", str(db_path))
        assert "empty" in one_line_error(out)
        with tracker.open_store(db_path) as store, pytest.raises(tracker.RunNotFoundError):
            store.resolve(ref)
        with pytest.raises(ValueError, match="resume"):
            tracker.init("p", db=db_path, resume=ref)
    out = tracker_cmd("export", "tensorboard", str(tmp_path / "tb"), "--runs", "only,",
                      "--db", str(db_path))
    assert "empty" in one_line_error(out)
    assert names_in(db_path) == ["only"]


def damage_rows(db) -> dict[str, str]:
    """Runs whose rows another program (or an old bug) damaged, next to two sound ones."""
    ids = {}
    for name in ("good", "deep", "not-json", "text-started", "text-last", "good-too"):
        with tracker.init("p", name, db=db, config={"lr": 0.1}) as run:
            run.log({"loss": 1.0})
        ids[name] = run.id
    pool.close_all()
    conn = sqlite3.connect(db)
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    conn.execute("UPDATE runs SET config = ? WHERE id = ?", (deep, ids["deep"]))
    conn.execute("UPDATE runs SET config = 'lr=0.1', summary = '{' WHERE id = ?",
                 (ids["not-json"],))
    conn.execute("UPDATE runs SET started = 'yesterday' WHERE id = ?", (ids["text-started"],))
    conn.execute("UPDATE series SET last_value = 'abc' WHERE run_id = ?", (ids["text-last"],))
    conn.commit()
    conn.close()
    return ids


def strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_damaged_rows_are_shown_as_damaged_and_hide_no_other_run(sqlite_path):
    ids = damage_rows(sqlite_path)
    out = tracker_cmd("ls", "--db", str(sqlite_path))
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    for run_id in ids.values():
        assert run_id in out.stdout
    assert out.stdout.count("(damaged)") == 4
    damaged_lines = [line for line in out.stderr.splitlines() if "is damaged" in line]
    assert len(damaged_lines) == 4
    listed = {r["name"]: r for r in strict_json(tracker_cmd("ls", "--json", "--db",
                                                            str(sqlite_path)).stdout)}
    assert listed["good"]["damaged"] is None and listed["good"]["config"] == {"lr": 0.1}
    assert "config" in listed["deep"]["damaged"] and listed["deep"]["config"] == {}
    assert "summary" in listed["not-json"]["damaged"] and listed["not-json"]["summary"] == {}
    assert "started" in listed["text-started"]["damaged"]
    assert "'loss'" in listed["text-last"]["damaged"] and listed["text-last"]["last"] == {}
    for name, run_id in ids.items():
        out = tracker_cmd("show", run_id, "--json", "--db", str(sqlite_path))
        assert out.returncode == 0 and strict_json(out.stdout)["id"] == run_id, (name, out.stderr)
        out = tracker_cmd("show", run_id, "--db", str(sqlite_path))
        assert out.returncode == 0 and "Traceback" not in out.stderr, (name, out.stderr)
        assert ("damaged" in out.stdout) == (name not in ("good", "good-too"))


HOSTILE = "\x1b]0;owned\x07\x1b[2J\x1b]52;c;c2VjcmV0\x07\x9b31m\u202eevil\x7f"


def terminal_controls(text: str) -> list[str]:
    """Characters a terminal acts on (newlines between lines aside)."""
    return [c for c in text if c != "\n" and not c.isprintable()]


def test_ls_show_and_rm_print_no_terminal_escapes_from_run_data(db_path):
    with tracker.init(HOSTILE, "name" + HOSTILE, db=db_path, group="g" + HOSTILE,
                      tags=["t" + HOSTILE], notes="n" + HOSTILE + "\nsecond line",
                      config={"k" + HOSTILE: "v" + HOSTILE}) as run:
        run.log({"loss": 1.0})
        run.set_summary(**{"s" + HOSTILE: "v" + HOSTILE})
    with tracker.init("p", "plain", db=db_path) as other:
        other.log({"loss": 2.0})
    outputs = [
        tracker_cmd("ls", "--db", str(db_path)),
        tracker_cmd("show", run.id, "--db", str(db_path)),
        tracker_cmd("show", run.id, "--json", "--db", str(db_path)),
        tracker_cmd("ls", "--json", "--db", str(db_path)),
        tracker_cmd("rm", run.id, "--db", str(db_path), input="n\n"),
        tracker_cmd("rm", "name" + HOSTILE, "--db", str(db_path), "--yes"),
    ]
    for out in outputs:
        assert out.returncode in (0, 1), out.stderr
        assert terminal_controls(out.stdout + out.stderr) == [], (out.args, out.stdout)
    assert "name" in outputs[0].stdout and "\ufffd]0;owned" in outputs[0].stdout  # shown, inert
    assert "Delete 1 run(s)" in outputs[4].stdout and "deleted 1 run" in outputs[5].stdout
    assert names_in(db_path) == ["plain"]


def test_json_output_is_strict_json_with_non_finite_values_as_strings(db_path):
    with tracker.init("p", "edge", db=db_path, config={"big": float("inf")}) as run:
        run.log({"up": float("inf"), "down": float("-inf"), "gap": float("nan")})
    shown = strict_json(tracker_cmd("show", run.id, "--json", "--db", str(db_path)).stdout)
    listed = strict_json(tracker_cmd("ls", "--json", "--db", str(db_path)).stdout)[0]
    assert shown["last"] == listed["last"] == {"up": "inf", "down": "-inf", "gap": "nan"}
    assert shown["config"] == listed["config"] == {"big": "inf"}
    keys = {k["key"]: k for k in shown["keys"]}
    assert (keys["up"]["last"], keys["up"]["max"], keys["down"]["min"]) == ("inf", "inf", "-inf")


def test_ls_of_a_project_without_runs_names_the_projects(store_with_runs):
    db, _, _ = store_with_runs
    line = one_line_error(tracker_cmd("ls", "--project", "mnsit", "--db", str(db)))
    assert "'mnsit' has no runs" in line and "cifar, mnist" in line
    line = one_line_error(tracker_cmd("ls", "--json", "-p", "mnsit", "--db", str(db)))
    assert "cifar, mnist" in line


def test_ls_labels_metric_columns_as_metrics(db_path):
    with tracker.init("p", "r", db=db_path, config={"lr": 0.1}) as run:
        run.log({"train/loss": 0.5, "lr": 0.01})
    header = tracker_cmd("ls", "--db", str(db_path)).stdout.splitlines()[0].split()
    assert header[-2:] == ["metric.train/loss", "metric.lr"]


@pytest.fixture
def live_run(db_path):
    """A run that another process is still logging to (it waits for its stdin to close)."""
    code = (
        "import sys, tracker\n"
        f"run = tracker.init('p', 'live', db={str(db_path)!r})\n"
        "run.log({'loss': 1.0}); run.flush()\n"
        "print(run.id, flush=True)\n"
        "sys.stdin.read()\n"
        "run.finish()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    yield run_id
    proc.communicate(timeout=60)


def test_rm_of_a_live_run_needs_force(db_path, live_run):
    tracker.init("p", "done", db=db_path).finish()
    line = one_line_error(tracker_cmd("rm", live_run, "--yes", "--db", str(db_path)))
    assert "still logging" in line and "--force" in line
    line = one_line_error(tracker_cmd("rm", "done", "live", "--yes", "--db", str(db_path)))
    assert "still logging" in line
    assert names_in(db_path) == ["done", "live"]
    out = tracker_cmd("rm", live_run, "--yes", "--force", "--db", str(db_path))
    assert out.returncode == 0 and "deleted 1 run" in out.stdout, out.stderr
    assert names_in(db_path) == ["done"]


def test_ls_leaves_system_metrics_out_of_its_columns(db_path):
    with tracker.init("p", "r", db=db_path) as run:
        run.log({"sys/cpu_percent": 12.0, "sys/gpu0/util": 50.0, "loss": 0.5})
    header = tracker_cmd("ls", "--db", str(db_path)).stdout.splitlines()[0].split()
    assert header[-1] == "metric.loss" and not any("sys/" in col for col in header)


@pytest.mark.parametrize("args", [["ls"], ["show", "x"], ["rm", "x", "--yes"], ["ui"]])
def test_server_errors_are_one_line_with_exit_2(pg_server, pg_url, tmp_path, args):
    """The PostgreSQL side of the errors above: no server there, no such database, a database
    without a tracker store, a newer schema; the password in the URL never shows."""
    from tracker.store.postgres.schema import SCHEMA_VERSION as PG_SCHEMA_VERSION

    (tmp_path / "sock").mkdir()
    nowhere = f"postgresql://alice:s3cret@/x?host={tmp_path / 'sock'}"
    for db, expected in ((nowhere, "cannot connect to"),
                         (pg_server.url("no_such_db", password="s3cret"), "does not exist")):
        line = _error(args, db)
        assert expected in line and "s3cret" not in line and ":***@" in line, line
    if args != ["ui"]:  # the app waits for a store to appear in an empty database
        assert "no tracker store" in _error(args, pg_url)
    tracker.init("p", db=pg_url).finish()
    execute(pg_url, f"UPDATE tracker_schema SET version = {PG_SCHEMA_VERSION + 5}")
    assert "upgrade" in _error(args, pg_url)
