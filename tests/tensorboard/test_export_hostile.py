"""Export from a store that holds damaged blobs: what is damaged is reported and left out."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import tracker
from tracker.store.sqlite import blobs
from tracker.tensorboard.export import export_tensorboard


def _run_with_artifacts(db: Path) -> str:
    run = tracker.init("p", name="r", db=db)
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    graph = tracker.Graph(name="model", framework="keras", source="keras_config",
                          raw='{"class_name": "Sequential"}', raw_format="keras_json")
    graph.add(tracker.GraphNode(name="dense", op="Dense"))
    run.log_graph(graph)
    for name in ("good", "bad"):
        run.log_profile(tracker.Profile(name=name, framework="jax", trace=name.encode() * 100,
                                        trace_format="xplane", trace_name=f"host-{name}"))
    run.finish()
    return run.id


def _set_blob(db: Path, sql: str, blob: bytes) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(sql, (blob,))
    conn.close()


def _bomb(size: int) -> bytes:
    """zlib data that inflates to ``size`` zero bytes, built without holding them."""
    deflater, chunk = zlib.compressobj(9), bytes(1 << 20)
    parts = [deflater.compress(chunk) for _ in range(size >> 20)]
    return b"".join(parts) + deflater.flush()


def test_a_profile_blob_that_is_not_zlib_is_a_warning_not_a_traceback(
    db_path: Path, tmp_path: Path
) -> None:
    run_id = _run_with_artifacts(db_path)
    _set_blob(db_path, "UPDATE profiles SET trace = ? WHERE name = 'bad'", b"not zlib at all")
    out = tmp_path / "tb"

    proc = subprocess.run([sys.executable, "-m", "tracker.cli", "export", "tensorboard", str(out),
                           "--db", str(db_path)], capture_output=True, text=True)

    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    (warning,) = proc.stderr.splitlines()
    assert warning.startswith(f"warning: run {run_id}: profile ") and "not zlib data" in warning
    assert "exported 1 run(s): 5 scalars" in proc.stdout and "1 profiles" in proc.stdout
    assert [p.name for p in out.rglob("*.xplane.pb")] == ["host-good.xplane.pb"]


def test_zlib_bombs_are_refused_without_inflating_them(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blobs, "MAX_INFLATED_BYTES", 4 << 20)
    _run_with_artifacts(db_path)
    bomb = _bomb(64 << 20)
    assert len(bomb) < 100_000
    _set_blob(db_path, "UPDATE profiles SET trace = ? WHERE name = 'bad'", bomb)
    _set_blob(db_path, "UPDATE graphs SET raw = ?", bomb)

    summary = export_tensorboard(tmp_path / "tb", db=db_path)

    assert (summary.runs, summary.scalars, summary.profiles, summary.graphs) == (1, 5, 1, 0)
    assert len(summary.problems) == 2
    assert all("inflates past 4 MiB" in p for p in summary.problems), summary.problems
    with tracker.open_store(db_path) as store:  # the app's reads are bounded the same way
        (info,) = store.runs()
        with pytest.raises(blobs.DamagedBlobError, match="inflates past"):
            store.graph(store.graphs(info.id)[0].id)


def test_inflate_keeps_good_blobs_and_names_cut_ones() -> None:
    data = b"trace " * 1000
    assert blobs.inflate(zlib.compress(data), "profile 1's trace") == data
    with pytest.raises(blobs.DamagedBlobError, match="damaged .its zlib data is cut short"):
        blobs.inflate(zlib.compress(data)[:-10], "profile 1's trace")
