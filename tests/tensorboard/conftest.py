"""Helpers for the TensorBoard tests: read a logdir back with TensorBoard's own EventAccumulator.

The reading happens in a subprocess that blocks TensorFlow (an empty ``tensorboard.compat.notf``),
so TensorFlow never loads there, and the pytest process (where other tests use Keras's own
TensorBoard callback) is left alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
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
