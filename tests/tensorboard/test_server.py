"""A real ``tensorboard`` server on 127.0.0.1 serves an export (default fast loader)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.tensorboard.export import export_tensorboard

pytestmark = pytest.mark.slow


def test_tensorboard_server_serves_scalars_histograms_and_hparams(db_path: Path, tmp_path: Path, tensorboard_server) -> None:
    for name, lr in (("a", 0.1), ("b", 0.01)):
        run = tracker.init("proj", name=name, config={"lr": lr}, db=db_path)
        for i in range(25):
            run.log({"loss": 1 / (i + 1) + lr}, step=i)
        run.log_histogram("w", np.arange(100.0), step=3, bins=4)
        run.finish()
    out = tmp_path / "tb"
    export_tensorboard(out, db=db_path)

    with tensorboard_server(out, tmp_path / "tensorboard.log") as tb:
        runs = tb.poll(lambda: tb.get_json(f"/data/runs"), lambda r: len(r) == 2)
        run_a = next(r for r in runs if r.startswith("proj/a-"))
        query = urllib.parse.urlencode({"run": run_a, "tag": "loss"})
        scalars = tb.poll(lambda: tb.get_json(f"/data/plugin/scalars/scalars?{query}"),
                        lambda r: len(r) == 25)
        assert [s for _, s, _ in scalars] == list(range(25))
        assert [v for _, _, v in scalars] == [float(np.float32(1 / (i + 1) + 0.1)) for i in range(25)]

        # Polled too: runs load in parallel in the background, so run a's scalars being there
        # says nothing about run b's hparams (each run's data shows up when its loader commits).
        query = urllib.parse.urlencode({"run": run_a, "tag": "w"})
        ((_, step, buckets),) = tb.poll(
            lambda: tb.get_json(f"/data/plugin/histograms/histograms?{query}"),
            lambda r: len(r) == 1)
        assert step == 3 and [b[2] for b in buckets] == [25.0] * 4

        groups = tb.poll(lambda: tb.get_json(f"/data/plugin/hparams/session_groups", {
            "experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN"], "colParams": [],
            "startIndex": 0, "sliceSize": 10})["sessionGroups"], lambda g: len(g) == 2)
        by_lr = {g["hparams"]["lr"]: g["metricValues"] for g in groups}
        assert sorted(by_lr) == [0.01, 0.1]
        (metric,) = by_lr[0.1]
        assert metric["name"]["tag"] == "loss" and metric["trainingStep"] == 24
