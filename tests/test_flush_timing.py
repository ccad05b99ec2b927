"""What bounds the loss window at any logging rate (the window itself is measured by
benchmarks/bench_loss_window.py): flushes start on time whatever else the flusher did, a backlog
is written in short transactions sized to the writer's speed, and log() waits for a working writer
once the buffer holds its hard limit."""

from __future__ import annotations

import pytest

import tracker
from tracker.run import Run
from tracker.run import flusher
from tracker.store.sqlite import batch
from tracker.run.writer import COMMIT_S, HARD_S


class _Due:
    def __init__(self, at: float) -> None:
        self.at = at

    def next_due(self) -> float:
        return self.at


def test_a_flush_by_time_is_not_pushed_back_by_a_round_that_came_early() -> None:
    # A round woken by a full buffer (or another run) at t=10.9 must wait 0.1 s for the writer
    # due at 11.0, not a whole interval.
    assert flusher.next_wait([_Due(11.0), _Due(12.5)], now=10.9) == pytest.approx(0.1)
    assert flusher.next_wait([_Due(9.0)], now=10.9) == 0.0  # overdue: at once
    assert flusher.next_wait([], now=10.9) == 1.0


def test_a_writer_is_due_when_its_interval_has_passed_however_much_waits(db_path) -> None:
    run = Run(project="p", db=db_path, flush_interval=1.0)
    writer = run._writer
    start = writer.next_due() - 1.0
    assert not writer.due(start + 0.5)
    for i in range(50_000):  # a growing buffer changes nothing about the time
        run.log({"a": float(i)}, step=i)
    assert writer.due(start + 1.0)
    run.finish()


def test_a_backlog_is_written_in_transactions_sized_to_the_writers_speed(db_path, monkeypatch):
    run = Run(project="p", db=db_path, flush_interval=3600)
    writer = run._writer
    writer._measure(100_000, 1.0)  # as measured: 100k points a second
    monkeypatch.setattr(writer, "_measure", lambda points, seconds: None)
    assert writer.commit_points == int(100_000 * COMMIT_S)
    assert run._buf.hard_limit == int(100_000 * HARD_S)
    parts: list[int] = []
    write = batch.write

    def record(conn, run_id, batch_, sids, **kw):  # noqa: ANN001, ANN202
        parts.append(sum(len(p) for p in batch_.points))
        return write(conn, run_id, batch_, sids, **kw)

    monkeypatch.setattr(batch, "write", record)
    run._buf.soft_limit = run._buf.hard_limit = 10**9  # one backlog, written by flush() below
    for i in range(200_000):
        run.log({"a": float(i)}, step=i)
    assert run.flush()
    assert sum(parts) == 200_000 and max(parts) <= writer.commit_points and len(parts) >= 10
    run.finish()
    with tracker.open_store(db_path) as store:
        assert store.series(run.id, "a").steps.tolist() == list(range(200_000))


def test_log_waits_for_a_working_writer_once_the_buffer_is_full(db_path, monkeypatch):
    run = Run(project="p", db=db_path, flush_interval=3600)
    buf, writer = run._buf, run._writer
    monkeypatch.setattr(writer, "_measure", lambda points, seconds: None)
    buf.soft_limit = buf.hard_limit = 2_000  # a full buffer wakes the writer and waits for it
    waits: list[tuple[int, bool, int]] = []
    wait = writer.wait_for_room

    def watched() -> bool:
        before = buf.pending()
        took = wait()
        waits.append((before, took, buf.pending()))
        return took

    monkeypatch.setattr(writer, "wait_for_room", watched)
    for i in range(20_000):
        run.log({"a": float(i), "b": float(i)}, step=i)
    taken = [(before, after) for before, took, after in waits if took]
    assert taken  # log() waited, and each such wait ended once the writer had taken the buffer
    assert all(before >= 2_000 > after for before, after in taken)
    run.finish()
    with tracker.open_store(db_path) as store:
        assert len(store.series(run.id, "b")) == 20_000
