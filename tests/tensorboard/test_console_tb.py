"""System series and console lines in a TensorBoard export, and what an import makes of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import tracker
from tracker.tensorboard import console as tb_console
from tracker.tensorboard.export import export_tensorboard
from tracker.tensorboard.importer import import_tensorboard


def _run_with_console(db: Path, lines: list[tuple]) -> str:
    with tracker.init("p", "r", db=db) as run:
        run.log_series("sys/gpu0/util_percent", np.arange(3), np.array([10.0, 50.0, 90.0]))
        run.log_series("loss", np.arange(3), np.array([3.0, 2.0, 1.0]))
        run.log_console(lines)
    return run.id


def test_sys_series_are_scalars_and_the_console_is_text_chunked_by_step(
    db_path: Path, tmp_path: Path, dump,
) -> None:
    lines = [("stdout", 1.0, None, "loading"), ("stderr", 1.5, None, "\x1b[33mwarn\x1b[0m")]
    lines += [("stdout", 2.0 + i, i // 50, f"step {i // 50} line {i}") for i in range(300)]
    lines += [("stdout", 400.0, 5, "# not a heading **nor bold**")]
    _run_with_console(db_path, lines)
    summary = export_tensorboard(tmp_path / "tb", db=db_path)
    assert summary.console_lines == len(lines)
    (run,) = dump(tmp_path / "tb").values()
    assert [v for _, _, v in run["scalars"]["sys/gpu0/util_percent"]] == [10.0, 50.0, 90.0]
    assert run["plugins"]["console"] == "text"
    chunks = [(step, text[0]) for _, step, text, _ in run["tensors"]["console"]]
    # chunks close at a step boundary once they hold 200 lines: steps 0-3 (202 lines), 4-5
    assert [step for step, _ in chunks] == [0, 4]
    first, second = chunks[0][1], chunks[1][1]
    assert first.startswith("202 lines, before the first step\n\n    loading\n    warn\n")
    assert "\x1b" not in first and first.count("\n    ") == 202
    assert second.startswith("101 lines, steps 4-5\n\n    step 4 line 200\n")
    assert second.endswith("    # not a heading **nor bold**\n")  # a code block: no markup


def test_the_console_export_is_incremental(db_path: Path, tmp_path: Path, dump) -> None:
    run_id = _run_with_console(db_path, [("stdout", 1.0, 0, "first")])
    export_tensorboard(tmp_path / "tb", db=db_path)
    with tracker.init("p", db=db_path, resume=run_id) as run:
        run.log_console([("stdout", 2.0, 7, "second")])
    again = export_tensorboard(tmp_path / "tb", db=db_path)
    assert again.console_lines == 1
    (run,) = dump(tmp_path / "tb").values()
    assert [(step, text[0].splitlines()[-1]) for _, step, text, _ in run["tensors"]["console"]] == [
        (0, "    first"), (7, "    second")]


def test_a_run_text_named_console_keeps_its_tag(db_path: Path, tmp_path: Path, dump) -> None:
    with tracker.init("p", db=db_path) as run:
        run.log_text("console", "the user's own text", step=0)
        run.log_console([("stdout", 1.0, 0, "captured")])
    export_tensorboard(tmp_path / "tb", db=db_path)
    (dumped,) = dump(tmp_path / "tb").values()
    assert dumped["tensors"]["console"][0][2] == ["the user's own text"]
    assert dumped["tensors"]["tracker/console"][0][2][0].endswith("    captured\n")
    assert tb_console.console_tag({"console"}) == "tracker/console"


def test_import_invents_neither_console_lines_nor_system_series(db_path: Path,
                                                               tmp_path: Path) -> None:
    _run_with_console(db_path, [("stdout", 1.0, 0, "hello")])
    export_tensorboard(tmp_path / "tb", db=db_path)
    back = tmp_path / "back.db"
    import_tensorboard(tmp_path / "tb", db=back)
    with tracker.open_store(back) as store:
        (info,) = store.runs()
        assert store.console_lines(info.id) == []  # TensorBoard has no console: text stays text
        keys = {(k.kind, k.key) for k in store.keys(info.id)}
        assert keys == {("scalar", "loss"), ("scalar", "sys/gpu0/util_percent"), ("text", "console")}
    # and a plain TensorBoard logdir (no sys/ scalars) gets none
    plain = tmp_path / "plain.db"
    with tracker.init("p", db=plain) as run:
        run.log({"loss": 1.0})
    export_tensorboard(tmp_path / "tb2", db=plain)
    import_tensorboard(tmp_path / "tb2", db=tmp_path / "plain-back.db")
    with tracker.open_store(tmp_path / "plain-back.db") as store:
        (info,) = store.runs()
        assert [k.key for k in store.keys(info.id)] == ["loss"]
        assert store.console_lines(info.id) == []
