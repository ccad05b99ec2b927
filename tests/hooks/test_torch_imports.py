"""The torch hooks never pull in torch.utils.tensorboard, TensorFlow, JAX or Lightning."""

from __future__ import annotations

import subprocess
import sys


def test_watch_graph_and_profile_import_no_tensorboard_writer(tmp_path) -> None:
    code = f"""
import sys, torch
import tracker
from tracker.hooks.torch import log_graph, profile, unwatch, watch
torch.set_num_threads(1)
run = tracker.init("imports", db={str(tmp_path / "t.db")!r})
model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
opt = torch.optim.SGD(model.parameters(), lr=0.1)
watch(model, run, log_every=1)
with profile(run, steps=1, warmup=0):
    for _ in range(2):
        model(torch.randn(2, 4)).sum().backward(); opt.step(); opt.zero_grad()
log_graph(model, torch.randn(2, 4), run=run)
unwatch(model); run.finish()
bad = [m for m in sys.modules if m.startswith(("torch.utils.tensorboard", "tensorflow",
       "tensorboardX", "jax", "lightning", "pytorch_lightning"))]
print(bad)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
