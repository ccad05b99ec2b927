"""``tracker sql``: read-only SQL over a store, with its scalar points as the ``metrics`` view."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tracker
from tracker.cli import main
from tracker.store.sqlite import SCHEMA_VERSION, chunks, pool
from tracker.store.sqlite.user_sql import open_for_sql, run_query

FIXTURE = Path(__file__).parent / "fixtures" / "v1_store" / "store.db"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def one_line_error(*args: str) -> str:
    out = invoke(*args)
    assert out.exit_code == 2, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tracker: "), out.output
    return lines[0]


@pytest.fixture
def store(db_path: Path) -> Path:
    with tracker.init("mnist", "baseline", db=db_path) as run:
        for i in range(10):
            run.log({"loss": 10.0 - i, "acc": i / 10 if i != 3 else float("nan")}, step=i)
        run.log({"loss": float("inf"), "acc": -float("inf")}, step=9)  # a repeated step
    with tracker.init("mnist", "esc\x1b[31m", db=db_path) as run:
        for i in range(chunks.GROW_CAP + 3):  # a slow series: a chunk that grew, then a new one
            run.log({"loss": i * 0.5}, step=i * 3)
            if i % 100 == 0:
                run.flush()
        run.log_series("big", np.array([5, 1, 1, 2**62]), np.array([1.0, 2.0, 3.0, 4.0]))
    pool.close_all()
    return db_path


def sql(db: Path, query: str) -> list[tuple]:
    conn = open_for_sql(db)
    try:
        return list(run_query(conn, query, db)[1])
    finally:
        conn.close()


def test_the_metrics_view_gives_exactly_the_logged_points(store):
    rows = sql(store, "SELECT project, run, run_id, key, step, wall, value FROM metrics")
    want = []
    with tracker.open_store(store) as st:
        for run in st.runs():
            for key in st.keys(run.id, "scalar"):
                s = st.series(run.id, key.key)
                for step, wall, value in zip(s.steps.tolist(), s.walls.tolist(), s.values.tolist()):
                    want.append((run.project, run.name, run.id, key.key, step, wall,
                                 None if math.isnan(value) else value))
    assert len(rows) == 11 + 11 + chunks.GROW_CAP + 3 + 4
    assert sorted(rows, key=repr) == sorted(want, key=repr)
    assert sql(store, "SELECT value FROM metrics WHERE key = 'acc' AND step = 3") == [(None,)]
    assert sql(store, "SELECT step, value FROM metrics WHERE key = 'big' ORDER BY value") == [
        (5, 1.0), (1, 2.0), (1, 3.0), (2**62, 4.0)]


def test_answers_questions_in_sql(store):
    assert sql(store, "SELECT run, step, value FROM metrics WHERE key = 'loss' AND run ="
                      " 'baseline' ORDER BY value LIMIT 2") == [("baseline", 9, 1.0),
                                                                ("baseline", 8, 2.0)]
    assert sql(store, "SELECT count(*), max(step) FROM metrics WHERE key = 'loss' AND run LIKE"
                      " 'esc%'") == [(chunks.GROW_CAP + 3, (chunks.GROW_CAP + 2) * 3)]
    # the plain tables are there too
    assert sql(store, "SELECT count FROM series s JOIN runs r ON r.id = s.run_id"
                      " WHERE r.name = 'baseline' AND key = 'loss'") == [(11,)]


def test_table_csv_and_json(store):
    q = "SELECT run, step, value FROM metrics WHERE key = 'acc' AND step IN (2, 3, 9) ORDER BY step, value"
    table = invoke("sql", q, "--db", str(store))
    assert table.exit_code == 0, table.output
    assert table.output.splitlines() == [
        "run       step  value",
        "--------  ----  -----",
        "baseline     2    0.2",
        "baseline     3",
        "baseline     9   -inf",
        "baseline     9    0.9",
    ]
    out = invoke("sql", "--csv", q, "--db", str(store)).output
    assert list(csv.reader(io.StringIO(out))) == [
        ["run", "step", "value"], ["baseline", "2", "0.2"], ["baseline", "3", ""],
        ["baseline", "9", "-inf"], ["baseline", "9", "0.9"]]
    data = json.loads(invoke("sql", "--json", q, "--db", str(store)).output)
    assert data == [{"run": "baseline", "step": 2, "value": 0.2},
                    {"run": "baseline", "step": 3, "value": None},
                    {"run": "baseline", "step": 9, "value": "-inf"},
                    {"run": "baseline", "step": 9, "value": 0.9}]
    assert json.loads(invoke("sql", "--json", "SELECT 1 WHERE 0", "--db", str(store)).output) == []


def test_text_from_runs_is_shown_literally(store):
    out = invoke("sql", "SELECT DISTINCT run FROM metrics WHERE run LIKE 'esc%'", "--db", str(store))
    assert "\x1b" not in out.output and "esc\ufffd[31m" in out.output
    data = invoke("sql", "--json", "SELECT name FROM runs WHERE name LIKE 'esc%'", "--db", str(store))
    assert json.loads(data.output) == [{"name": "esc\x1b[31m"}]  # escaped in the JSON text


@pytest.mark.parametrize("query", [
    "DELETE FROM runs",
    "UPDATE series SET count = 0",
    "CREATE TABLE t (x)",
    "CREATE TEMP TABLE t (x)",
    "ATTACH 'attached.db' AS a",
    "VACUUM INTO 'copy.db'",
    "PRAGMA query_only = 0",
    "PRAGMA journal_mode = DELETE",
])
def test_it_never_writes(store, query, tmp_path, monkeypatch):
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    before = store.read_bytes()
    assert "only reads" in one_line_error("sql", query, "--db", str(store))
    assert store.read_bytes() == before
    assert list(here.iterdir()) == []  # no file ATTACHed or VACUUMed INTO


def test_bad_sql_and_bad_stores_are_one_line(store, tmp_path):
    assert "no such column: nope" in one_line_error("sql", "SELECT nope FROM runs", "--db", str(store))
    assert "one statement" in one_line_error("sql", "SELECT 1; SELECT 2", "--db", str(store))
    assert "no store" in one_line_error("sql", "SELECT 1", "--db", str(tmp_path / "missing.db"))
    bad = tmp_path / "bad.db"
    bad.write_text("not sqlite at all" * 50)
    assert "corrupt" in one_line_error("sql", "SELECT 1", "--db", str(bad))
    old = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, old)
    assert "tracker migrate" in one_line_error("sql", "SELECT 1", "--db", str(old))
    newer = tmp_path / "newer.db"
    shutil.copyfile(store, newer)
    sqlite3.connect(newer).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}").connection.close()
    assert "upgrade" in one_line_error("sql", "SELECT 1", "--db", str(newer))


def test_an_empty_file_has_no_points(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    out = invoke("sql", "--csv", "SELECT count(*) AS n FROM metrics", "--db", str(empty))
    assert (out.exit_code, out.output) == (0, "n\n0\n")
    assert empty.stat().st_size == 0
