"""A real ``tensorboard`` server on 127.0.0.1 serves an export (default fast loader)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tracker
from tracker.tensorboard.export import export_tensorboard

pytestmark = pytest.mark.slow
DEADLINE_S = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, body: dict | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _poll(server: subprocess.Popen, fetch: Any, ready: Any) -> Any:
    """Call ``fetch`` until ``ready(result)`` or the deadline (the server loads in the background).

    Between tries it waits on the server process itself, so a server that dies fails at once.
    """
    deadline = time.monotonic() + DEADLINE_S
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fetch()
            if ready(last):
                return last
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        try:
            code = server.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"tensorboard exited with status {code}")
    raise AssertionError(f"tensorboard did not serve the data in {DEADLINE_S} s; last: {last}")


def test_tensorboard_server_serves_scalars_histograms_and_hparams(db_path: Path, tmp_path: Path) -> None:
    for name, lr in (("a", 0.1), ("b", 0.01)):
        run = tracker.init("proj", name=name, config={"lr": lr}, db=db_path)
        for i in range(25):
            run.log({"loss": 1 / (i + 1) + lr}, step=i)
        run.log_histogram("w", np.arange(100.0), step=3, bins=4)
        run.finish()
    out = tmp_path / "tb"
    export_tensorboard(out, db=db_path)

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0")
    log = (tmp_path / "tensorboard.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(out), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=log, env=env,
    )
    try:
        runs = _poll(server, lambda: _get(f"{base}/data/runs"), lambda r: len(r) == 2)
        run_a = next(r for r in runs if r.startswith("proj/a-"))
        query = urllib.parse.urlencode({"run": run_a, "tag": "loss"})
        scalars = _poll(server, lambda: _get(f"{base}/data/plugin/scalars/scalars?{query}"),
                        lambda r: len(r) == 25)
        assert [s for _, s, _ in scalars] == list(range(25))
        assert [v for _, _, v in scalars] == [float(np.float32(1 / (i + 1) + 0.1)) for i in range(25)]

        # Polled too: runs load in parallel in the background, so run a's scalars being there
        # says nothing about run b's hparams (each run's data shows up when its loader commits).
        query = urllib.parse.urlencode({"run": run_a, "tag": "w"})
        ((_, step, buckets),) = _poll(
            server, lambda: _get(f"{base}/data/plugin/histograms/histograms?{query}"),
            lambda r: len(r) == 1)
        assert step == 3 and [b[2] for b in buckets] == [25.0] * 4

        groups = _poll(server, lambda: _get(f"{base}/data/plugin/hparams/session_groups", {
            "experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN"], "colParams": [],
            "startIndex": 0, "sliceSize": 10})["sessionGroups"], lambda g: len(g) == 2)
        by_lr = {g["hparams"]["lr"]: g["metricValues"] for g in groups}
        assert sorted(by_lr) == [0.01, 0.1]
        (metric,) = by_lr[0.1]
        assert metric["name"]["tag"] == "loss" and metric["trainingStep"] == 24
    finally:
        server.kill()
        server.wait(timeout=30)
        log.close()
