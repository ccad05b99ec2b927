"""Hostile run and project names never place a file outside the export folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import tracker
from tracker.tensorboard.export import export_tensorboard
from tracker.tensorboard.outdir import Folder, UnsafeOutputError
from tracker.tensorboard.paths import MAX_PART_BYTES, safe_part

HOSTILE = ["../x", "../../etc/passwd", "/etc/x", "a\0b", "x" * 5000, "..", ".", "CON", "nul.txt",
           "a/b\\c:d*e?f\"g<h>i|j", "\x1b[31mred\x1b[0m", "é" * 300, "  ", "🙂/../🙂", "\udcff\ud800"]


@pytest.mark.parametrize("name", HOSTILE)
def test_safe_part_is_one_harmless_component(name: str) -> None:
    part = safe_part(name)
    assert part and part not in (".", "..") and not part.startswith(".")
    assert "/" not in part and "\\" not in part and "\0" not in part
    assert all(c.isprintable() for c in part)
    assert len(part.encode("utf-8")) <= MAX_PART_BYTES
    assert not part.upper().startswith(("CON", "NUL")) or part.startswith("_")


def test_a_folder_below_out_refuses_escapes(tmp_path: Path) -> None:
    with Folder.open_root(tmp_path) as root:
        with root.sub(["a", "b"]) as sub:
            assert sub.path == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
        for relative in ("../outside", "/etc/x", "a/./b", "a//b"):
            with pytest.raises(UnsafeOutputError):
                root.sub(relative.split("/"))
    assert not (tmp_path.parent / "outside").exists()


def test_export_of_hostile_names_stays_inside(db_path: Path, tmp_path: Path) -> None:
    storable = [n for n in HOSTILE if n.strip() and "\udcff" not in n]
    for i, name in enumerate(storable):
        run = tracker.init(project=name if i % 2 else "p", name=name, db=db_path)
        run.log({"x": 1.0})
        run.finish()
    sandbox = tmp_path / "sandbox"
    out = sandbox / "out"
    summary = export_tensorboard(out, db=db_path)

    assert summary.runs == len(storable)
    outside = [p for p in sandbox.rglob("*") if out not in p.parents and p != out]
    assert outside == []
    for path in out.rglob("*"):
        rel = path.relative_to(out)
        assert all(part.isprintable() and not part.startswith("..") for part in rel.parts)
        assert len(os.fsencode(path.name)) <= 255
    run_dirs = {p.parent for p in out.rglob("events.out.tfevents.*")}
    assert len(run_dirs) == len(storable)  # no two runs share a folder
