"""Faults of the store while a run logs: a full disk, a lock held by another process, the file
deleted or replaced, the run deleted, a record the store refuses. Training goes on, nothing is
lost without a count, and every message says what really happened. What does not depend on the
file (the run deleted, a store locked by another's transaction, spill files
left alone) runs on both backends."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import pytest

import tracker
from tests.store_sql import execute, is_sqlite
from tracker.run import spill
from tracker.store.backend import TextItem


@pytest.fixture
def either(any_store):
    """A store of either backend (a server store's spill files go under the test's folder)."""
    return any_store


class FullDisk:
    """A store connection whose writes fail as on a full disk (reads and rollbacks still work)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn, self.full = conn, True

    def _check(self, sql: str) -> None:
        verb = sql.lstrip().split(None, 1)[0].upper()
        if self.full and verb not in ("SELECT", "PRAGMA", "ROLLBACK", "BEGIN"):
            raise sqlite3.OperationalError("database or disk is full")

    def execute(self, sql: str, *args):  # noqa: ANN002, ANN201
        self._check(sql)
        return self.conn.execute(sql, *args)

    def executemany(self, sql: str, *args):  # noqa: ANN002, ANN201
        self._check(sql)
        return self.conn.executemany(sql, *args)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.conn, name)


def _fill_disk(run: tracker.Run) -> FullDisk:
    disk = FullDisk(run._writer.backend.conn)
    run._writer.backend.conn = disk
    return disk


def test_a_store_still_full_at_finish_spills_and_the_next_writer_recovers_it(db_path, capfd):
    run = tracker.init("p", db=db_path)
    run.log({"a": -1.0}, step=0)
    assert run.flush()
    _fill_disk(run)
    for i in range(1, 30001):
        run.log({"a": float(i)}, step=i)
    run.log_text("notes", "kept", step=3)
    run.set_summary(best=0.5)
    assert not run.flush()
    run.finish()
    err = capfd.readouterr().err
    (spilled,) = spill.pending(db_path)
    assert "30,000 points" in err and str(spilled) in err  # what is where, in one message
    with tracker.open_store(db_path) as store:
        assert store.run(run.id).status != "finished"  # not finished: its data is not written
        assert len(store.series(run.id, "a")) == 1

    tracker.init("p", db=db_path).finish()  # the next writer of the store takes the spill in
    assert spill.pending(db_path) == []
    with tracker.open_store(db_path) as store:
        info = store.run(run.id)
        a = store.series(run.id, "a")
        texts = store.texts(run.id, "notes")
    assert a.steps.tolist() == list(range(30001)) and a.values[1:].tolist() == list(
        map(float, range(1, 30001)))
    assert [t.text for t in texts] == ["kept"] and info.summary == {"best": 0.5}
    assert info.status == "finished"


FSIZE_LIMIT = textwrap.dedent(
    """
    import resource, signal, sys
    import tracker
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    run = tracker.init("p", db=sys.argv[1])
    run.log({"a": 0.0}, step=0)
    run.flush()
    # No file of this process may grow past 256 KB from now on: not the store, not a spill file.
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.RLIM_INFINITY))
    for i in range(1, 200001):
        run.log({"a": float(i), "b": float(i)}, step=i)
    run.finish()
    print(run.id, flush=True)
    """
)


def test_when_neither_store_nor_spill_can_be_written_the_loss_is_counted_exactly(db_path):
    out = subprocess.run([sys.executable, "-c", FSIZE_LIMIT, str(db_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip()
    with tracker.open_store(db_path) as store:
        info = store.run(run_id)
        stored = len(store.series(run_id, "a")) + len(store.series(run_id, "b"))
    lost = 400001 - stored
    assert lost > 0
    assert f"{lost:,} points" in out.stderr and "lost" in out.stderr, out.stderr
    assert info.status != "finished"
    assert "kept in memory and retried" not in out.stderr.split("lost")[-1]


def test_a_record_the_store_refuses_costs_only_itself(db_path, capfd):
    # SQLite only: on PostgreSQL the driver's UnicodeEncodeError escapes (a known bug:
    # test_postgres_faults.py, test_a_text_the_driver_cannot_encode_is_dropped_alone)
    run = tracker.init("p", db=db_path)
    for i in range(3000):
        run.log({"good": float(i)}, step=i)
    run.log_text("fine", "ok")
    # What a lone surrogate (os.fsdecode of a non-UTF-8 name) did before log_text() refused it.
    run._writer.records.append(TextItem("bad", 0, 0.0, "file \udcff"))
    run.flush()
    run.finish()
    err = capfd.readouterr().err
    with tracker.open_store(db_path) as store:
        assert len(store.series(run.id, "good")) == 3000
        assert [t.text for t in store.texts(run.id, "fine")] == ["ok"]
        assert store.run(run.id).status == "finished"
    assert "'bad'" in err and "dropped" in err
    assert "retried" not in err  # it is not retried: the message must not say so


def test_texts_kept_through_a_long_outage_are_bounded_by_bytes_not_count(db_path, capfd):
    run = tracker.init("p", db=db_path)
    disk = _fill_disk(run)
    for i in range(20000):
        run.log_text("t", f"text {i}", step=i)
    assert not run.flush()
    assert not run.flush()
    disk.full = False
    assert run.flush()
    run.finish()
    with tracker.open_store(db_path) as store:
        assert [t.step for t in store.texts(run.id, "t")] == list(range(20000))


def test_records_past_the_memory_bound_go_to_the_spill_file_then_back(db_path, capfd):
    run = tracker.init("p", db=db_path)
    run._writer.max_retained_bytes = 50_000
    run._writer.max_retained = 1_000
    disk = _fill_disk(run)
    for i in range(5000):
        run.log_text("t", f"text {i}" * 10, step=i)
        run.log({"x": float(i)}, step=i)
        if i % 500 == 0:
            assert not run.flush()
    assert not run.flush()
    assert spill.pending(db_path)  # what memory could not hold is on disk...
    disk.full = False
    assert run.flush()  # ...and goes to the store first when it can be written again
    assert spill.pending(db_path) == []
    run.finish()
    with tracker.open_store(db_path) as store:
        assert [t.step for t in store.texts(run.id, "t")] == list(range(5000))
        assert store.series(run.id, "x").steps.tolist() == list(range(5000))
    assert "spill" in capfd.readouterr().err


def _other_transaction(db_path):
    """Another process's long transaction that holds every table the writer writes."""
    if is_sqlite(db_path):
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        return other
    import psycopg

    other = psycopg.connect(os.fspath(db_path), autocommit=True)
    other.execute("BEGIN")
    other.execute("LOCK TABLE runs, series, point_chunks, point_blocks IN ACCESS EXCLUSIVE MODE")
    return other


def test_a_locked_store_never_makes_log_wait_for_the_writer(either, monkeypatch):
    db_path = either
    run = tracker.init("p", db=db_path)
    run.log({"a": 0.0}, step=0)
    assert run.flush()
    other = _other_transaction(db_path)
    waited: list[str] = []

    def profile(frame, event, arg):  # noqa: ANN001, ANN202 - every blocking wait of this thread
        if event == "call" and frame.f_code.co_name == "wait":  # threading's Event, Condition
            waited.append(frame.f_code.co_qualname)
        elif event == "c_call" and getattr(arg, "__name__", "") in ("get", "sleep"):
            waited.append(repr(arg))  # a queue's get, time.sleep

    sys.setprofile(profile)
    try:
        for i in range(1, 1_000_001):  # far more than the writer lets wait when it is healthy
            run.log({"a": float(i)}, step=i)
    finally:
        sys.setprofile(None)
    other.execute("COMMIT")
    other.close()
    assert waited == []
    run.finish()
    with tracker.open_store(db_path) as store:
        assert store.series(run.id, "a").steps.tolist() == list(range(1_000_001))


def _write_store_with_one_run(path) -> str:
    """Another process writes a store (and closes it: everything is in the one file)."""
    code = ("import sys, tracker\nwith tracker.init('other', db=sys.argv[1]) as run:\n"
            "    run.log({'o': 1.0})\nprint(run.id)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         check=True, timeout=120)
    return out.stdout.strip()


@pytest.mark.parametrize("how", ["file deleted", "folder removed", "file replaced"])
def test_a_store_deleted_or_replaced_mid_run_is_written_again_at_its_path(tmp_path, capfd, how):
    db = tmp_path / "sub" / "tracker.db"
    run = tracker.init("p", "mine", config={"lr": 0.1}, db=db)
    run.log({"a": 0.0}, step=0)
    assert run.flush()
    if how == "file deleted":
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{db}{suffix}"):
                os.remove(f"{db}{suffix}")
    elif how == "folder removed":
        shutil.rmtree(db.parent)
    else:
        other_id = _write_store_with_one_run(tmp_path / "other.db")
        os.replace(tmp_path / "other.db", db)
    for i in range(1, 11):
        run.log({"a": float(i)}, step=i)
    assert run.flush()
    for i in range(11, 21):
        run.log({"a": float(i)}, step=i)
    run.finish()
    err = capfd.readouterr().err
    assert err.count(str(db)) == 1, err  # one warning that names the store
    with tracker.open_store(db) as store:
        info = store.run(run.id)
        a = store.series(run.id, "a")
        if how == "file replaced":
            assert store.series(other_id, "o").values.tolist() == [1.0]  # theirs is kept
    assert (info.project, info.name, info.config, info.status) == (
        "p", "mine", {"lr": 0.1}, "finished")
    assert a.steps.tolist() == list(range(1, 21))


def test_a_store_replaced_between_two_runs_of_a_process_gets_the_second_run(tmp_path):
    db = tmp_path / "tracker.db"
    with tracker.init("p", db=db) as first:  # its connection waits in the pool for the next run
        first.log({"a": 1.0})
    other_id = _write_store_with_one_run(tmp_path / "other.db")
    os.replace(tmp_path / "other.db", db)
    with tracker.init("p", db=db) as second:
        second.log({"b": 2.0})
    with tracker.open_store(db) as store:
        assert {r.id for r in store.runs()} == {other_id, second.id}
        assert store.series(second.id, "b").values.tolist() == [2.0]
        assert store.series(other_id, "o").values.tolist() == [1.0]


def test_a_run_deleted_while_it_logs_stops_with_one_warning_and_leaves_no_orphans(either, capfd):
    db_path = either
    run = tracker.init("p", db=db_path)
    keep = tracker.init("p", db=db_path)
    keep.log({"k": 1.0})
    keep.finish()
    run.log({"a": 1.0})
    assert run.flush()
    with tracker.open_store(db_path) as store:
        assert store.delete_runs([run.id]) == 1  # what `tracker rm --force` does
    run.log({"a": 2.0})
    run.log({"new": 3.0})
    run.log_text("t", "x")
    run.log_histogram("h", [1.0, 2.0])
    run.flush()
    run.log({"a": 4.0})
    run.finish()
    err = capfd.readouterr().err
    assert err.count(run.id) == 1 and "deleted" in err, err
    assert "NoneType" not in err and "Traceback" not in err
    orphans = {
        table: execute(db_path, f"SELECT count(*) FROM {table} WHERE run_id NOT IN "
                                "(SELECT id FROM runs)")[0][0]
        for table in ("series", "graphs", "profiles", "console_lines")
    }
    for table in ("point_blocks", "point_chunks", "histograms", "texts", "images"):
        orphans[table] = execute(db_path, f"SELECT count(*) FROM {table} WHERE series_id NOT IN "
                                          "(SELECT id FROM series)")[0][0]
    runs = [r[0] for r in execute(db_path, "SELECT id FROM runs")]
    assert runs == [keep.id]  # not created again by the finish
    assert not any(orphans.values()), orphans


def test_a_damaged_or_foreign_spill_file_is_left_alone_with_one_line(either, capfd):
    db_path = either
    tracker.init("p", db=db_path).finish()
    folder = spill.folder(db_path)
    folder.mkdir(parents=True)
    (folder / "garbage-1-1-000001.npz").write_bytes(b"not a zip file")
    foreign = spill.Spilled("nosuchrun", ["a"], None, [TextItem("t", 0, 0.0, "x")])
    spill.write(db_path, foreign)
    with tracker.init("p", db=db_path) as run:  # the store's next writer: it goes on regardless
        run.log({"a": 1.0})
    err = capfd.readouterr().err
    assert "garbage-1-1-000001.npz" in err and "nosuchrun" in err
    assert err.count("left as it is") == 2 and "Traceback" not in err
    assert len(spill.pending(db_path)) == 2
