"""Helpers for the TensorBoard tests: read a logdir back with TensorBoard's own EventAccumulator.

The reading happens in a subprocess that blocks TensorFlow (an empty ``tensorboard.compat.notf``),
so TensorFlow never loads there, and the pytest process (where other tests use Keras's own
TensorBoard callback) is left alone.
"""

from __future__ import annotations

import json
import urllib.request
import urllib.error
import time
import socket
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

_DUMP = r'''
import json, os, sys, types
sys.modules["tensorboard.compat.notf"] = types.ModuleType("tensorboard.compat.notf")
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.util import tensor_util

def plain(array):
    if array.dtype.kind in "SO":
        return [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in array.reshape(-1)]
    return array.tolist()

root = sys.argv[1]
out = {}
for folder, dirs, files in sorted(os.walk(root)):
    if not any("tfevents" in f for f in files):
        continue
    acc = ea.EventAccumulator(folder, size_guidance={ea.SCALARS: 0, ea.TENSORS: 0,
                                                    ea.HISTOGRAMS: 0, ea.GRAPH: 1})
    acc.Reload()
    tags = acc.Tags()
    run = {"scalars": {}, "tensors": {}, "plugins": {}, "histograms": {}, "graph": None,
           "hparams": None, "files": sorted(f for f in files if "tfevents" in f)}
    for tag in tags["scalars"]:
        run["scalars"][tag] = [[e.wall_time, e.step, e.value] for e in acc.Scalars(tag)]
    for tag in tags["histograms"]:
        run["histograms"][tag] = [[e.wall_time, e.step, e.histogram_value.min,
                                   e.histogram_value.max, list(e.histogram_value.bucket_limit),
                                   list(e.histogram_value.bucket)] for e in acc.Histograms(tag)]
    for tag in tags["tensors"]:
        run["plugins"][tag] = acc.SummaryMetadata(tag).plugin_data.plugin_name
        run["tensors"][tag] = [[e.wall_time, e.step, plain(tensor_util.make_ndarray(e.tensor_proto)),
                                e.tensor_proto.dtype] for e in acc.Tensors(tag)]
    try:
        content = acc.PluginTagToContent("hparams")
    except KeyError:
        content = {}
    for tag, data in content.items():
        info = plugin_data_pb2.HParamsPluginData.FromString(data).session_start_info
        run["hparams"] = {"group": info.group_name, "values": {
            k: getattr(v, v.WhichOneof("kind")) for k, v in info.hparams.items()}}
    if tags["graph"]:
        graph = acc.Graph()
        run["graph"] = [[n.name, n.op, list(n.input),
                         [[d.size for d in s.dim] for s in n.attr["_output_shapes"].list.shape]]
                        for n in graph.node]
    out[os.path.relpath(folder, root)] = run
assert "tensorflow" not in sys.modules, "TensorFlow was imported"
print(json.dumps(out))
'''


def tb_dump(logdir: Path) -> dict[str, Any]:
    """Every run under ``logdir`` as EventAccumulator reads it (relative dir -> tags -> events)."""
    proc = subprocess.run([sys.executable, "-c", _DUMP, str(logdir)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture
def dump() -> Any:
    """``dump(logdir)``: read an export back with TensorBoard's EventAccumulator."""
    return tb_dump


_STEPS = r'''
import json, os, sys, types
sys.modules["tensorboard.compat.notf"] = types.ModuleType("tensorboard.compat.notf")
from tensorboard.backend.event_processing import event_accumulator as ea

root = sys.argv[1]
out = {}
for folder, dirs, files in sorted(os.walk(root)):
    if not any("tfevents" in f for f in files):
        continue
    # purge_orphaned_data=False: every event of every file, as TensorBoard's default loader
    # reads them (purging would hide events written twice)
    acc = ea.EventAccumulator(folder, size_guidance={ea.SCALARS: 0}, purge_orphaned_data=False)
    acc.Reload()
    out[os.path.relpath(folder, root)] = {
        tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
print(json.dumps(out))
'''


def _tb_steps(logdir: Path) -> dict[str, dict[str, list[int]]]:
    """Run folder -> scalar tag -> the step of every event TensorBoard reads, duplicates kept."""
    proc = subprocess.run([sys.executable, "-c", _STEPS, str(logdir)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture
def tb_steps() -> Any:
    """``tb_steps(logdir)``: every scalar event's step per run and tag, read by TensorBoard."""
    return _tb_steps


# A real `tensorboard` process on 127.0.0.1, for the tests that read an export over its HTTP API.

DEADLINE_S = 120.0  # the server loads the logdir in the background; a loaded CI box is slow
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0", OMP_NUM_THREADS="1")


class TensorBoard:
    """A running server: ``get`` a path of its API, ``poll`` until the data has loaded."""

    def __init__(self, process: subprocess.Popen, base: str) -> None:
        self.process = process
        self.base = base

    def get(self, path: str, body: dict | None = None) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}{path}", data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    def get_json(self, path: str, body: dict | None = None) -> Any:
        return json.loads(self.get(path, body))

    def poll(self, fetch: Callable[[], Any], ready: Callable[[Any], bool]) -> Any:
        """``fetch()`` until ``ready(result)``; between tries, wait on the server process itself,
        so a server that dies fails at once."""
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
                code = self.process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"tensorboard exited with status {code}")
        raise AssertionError(f"tensorboard did not serve the data in {DEADLINE_S} s; last: {last}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _tensorboard(logdir: Path, log_path: Path) -> Iterator[TensorBoard]:
    """``tensorboard --logdir LOGDIR`` on a free port of 127.0.0.1, its stderr in ``log_path``."""
    port = _free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host",
             "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=log, env=ENV)
        try:
            yield TensorBoard(process, f"http://127.0.0.1:{port}")
        finally:
            process.kill()
            process.wait(timeout=30)


@pytest.fixture
def tensorboard_server() -> Callable[[Path, Path], Any]:
    """``with tensorboard_server(logdir, log_path) as tb:`` a server on the logdir (see TensorBoard)."""
    return _tensorboard
