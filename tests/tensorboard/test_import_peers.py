"""Import of logdirs written by torch.utils.tensorboard, tensorboardX and tf.summary.

Each writer runs in its own subprocess (torch.utils.tensorboard and tf.summary import TensorFlow,
which must stay out of the pytest process); the three write under one nested logdir in parallel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.tensorboard.importer import import_tensorboard

pytestmark = pytest.mark.slow

_TORCH = """
import sys, torch
torch.set_num_threads(1)
from torch.utils.tensorboard import SummaryWriter
w = SummaryWriter(sys.argv[1])
for i in range(20):
    w.add_scalar("loss", 1 / (i + 1), i)
w.add_histogram("w", torch.arange(100.0), 5)
w.add_text("note", "hello *torch*", 3)
w.add_graph(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), torch.zeros(1, 4))
w.add_image("img", torch.zeros(3, 4, 4), 0)
w.add_hparams({"lr": 0.1, "bs": 32, "opt": "sgd"}, {"hparam/acc": 0.9}, run_name="hp")
w.close()
"""

_TBX = """
import sys, numpy as np
from tensorboardX import SummaryWriter
w = SummaryWriter(sys.argv[1])
for i in range(20):
    w.add_scalar("train/loss", 2.0 * i, i)
w.add_histogram("w", np.arange(100.0), 5)
w.add_text("note", "hello tbx", 3)
w.close()
"""

_TF = """
import sys
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp
w = tf.summary.create_file_writer(sys.argv[1])
with w.as_default():
    hp.hparams({"lr": 0.25, "opt": "adam", "bn": True})
    for i in range(20):
        tf.summary.scalar("loss", 0.5 * i, step=i)
    tf.summary.histogram("w", tf.range(100.0), step=5, buckets=10)
    tf.summary.text("note", "hello tf", step=3)
w.close()
"""


@pytest.fixture(scope="module")
def peer_logdir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float, float]:
    root = tmp_path_factory.mktemp("peers") / "logs"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0", OMP_NUM_THREADS="1")
    before = time.time()
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(root / sub)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for code, sub in ((_TORCH, "torch/run1"), (_TBX, "tbx/a/b"), (_TF, "tf"))
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]
    return root, before, time.time()


@pytest.fixture(scope="module")
def imported(peer_logdir: tuple[Path, float, float], tmp_path_factory: pytest.TempPathFactory):
    root = peer_logdir[0]
    db = tmp_path_factory.mktemp("db") / "tracker.db"
    summary = import_tensorboard(root, db=db)
    store = tracker.open_store(db)
    runs = {r.name: r for r in store.runs()}
    yield summary, store, runs
    store.close()


def test_torch_writer(imported, peer_logdir) -> None:
    summary, store, runs = imported
    _, before, after = peer_logdir
    run = runs["torch/run1"]
    loss = store.series(run.id, "loss")
    assert loss.steps.tolist() == list(range(20))
    assert loss.values.tolist() == [float(np.float32(1 / (i + 1))) for i in range(20)]
    assert before <= loss.walls.min() <= loss.walls.max() <= after
    (hist,) = store.histograms(run.id, "w")
    assert hist.step == 5 and hist.histogram.counts.sum() == 100
    assert hist.histogram.min == 0.0 and hist.histogram.max == 99.0
    assert hist.histogram.sum == sum(range(100))
    assert [t.text for t in store.texts(run.id, "note/text_summary")] == ["hello *torch*"]
    (graph_info,) = store.graphs(run.id)
    graph = store.graph(graph_info.id)
    assert graph.raw_format == "graphdef" and any("Linear" in n.name for n in graph.nodes)
    assert "image" not in summary.skipped and summary.images == 1  # imported as log_image would
    (image,) = store.images_after(run.id, "img", 0)
    assert (image.step, image.image.width, image.image.height) == (0, 4, 4)
    hp = next(r for name, r in runs.items() if name.startswith("torch/run1/hp"))
    assert hp.config == {"lr": 0.1, "bs": 32.0, "opt": "sgd"}
    assert store.series(hp.id, "hparam/acc").values.tolist() == [float(np.float32(0.9))]


def test_tensorboardx_writer(imported) -> None:
    _, store, runs = imported
    run = runs["tbx/a/b"]
    loss = store.series(run.id, "train/loss")
    assert loss.values.tolist() == [2.0 * i for i in range(20)]
    (hist,) = store.histograms(run.id, "w")
    assert hist.histogram.counts.sum() == 100
    assert [t.text for t in store.texts(run.id, "note/text_summary")] == ["hello tbx"]


def test_tf_summary_writer(imported) -> None:
    _, store, runs = imported
    run = runs["tf"]
    assert run.config == {"lr": 0.25, "opt": "adam", "bn": True}
    loss = store.series(run.id, "loss")
    assert loss.steps.tolist() == list(range(20))
    assert loss.values.tolist() == [0.5 * i for i in range(20)]
    (hist,) = store.histograms(run.id, "w")
    assert hist.step == 5 and len(hist.histogram.counts) == 10
    assert hist.histogram.counts.sum() == 100
    assert hist.histogram.edges[0] == 0.0 and hist.histogram.edges[-1] == 99.0
    assert [t.text for t in store.texts(run.id, "note")] == ["hello tf"]


def test_reimport_of_peer_logdir_adds_nothing(peer_logdir, imported) -> None:
    _, store, _ = imported
    again = import_tensorboard(peer_logdir[0], db=store.path)
    assert (again.runs, again.scalars, again.histograms, again.texts) == (0, 0, 0, 0)
