"""Profiles land where TensorBoard's profile plugins look for them."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import tracker
from tracker.tensorboard.export import export_tensorboard


def test_xplane_and_torch_trace_layouts(db_path: Path, tmp_path: Path) -> None:
    xplane = bytes(range(256)) * 10  # opaque bytes: copied as they are
    run = tracker.init("p", name="r", db=db_path)
    run.log({"loss": 1.0})
    run.log_profile(tracker.Profile(name="jax", framework="jax", trace=xplane,
                                    trace_format="xplane", trace_name="host-1"))
    run.log_profile(tracker.Profile(name="jax2", framework="jax", trace=xplane[:100],
                                    trace_format="xplane", trace_name="host-1"))
    run.log_profile(tracker.Profile(name="no trace", framework="torch"))
    run.finish()

    summary = export_tensorboard(tmp_path / "tb", db=db_path)
    again = export_tensorboard(tmp_path / "tb", db=db_path)

    assert (summary.profiles, again.profiles) == (2, 0)
    found = sorted((tmp_path / "tb").rglob("*.xplane.pb"))
    assert len(found) == 2
    for path in found:
        assert path.name == "host-1.xplane.pb"
        assert path.parent.parent.name == "profile" and path.parent.parent.parent.name == "plugins"
    assert sorted(p.read_bytes() for p in found) == sorted([xplane, xplane[:100]])


def test_real_torch_profiler_trace(db_path: Path, tmp_path: Path) -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    model = torch.nn.Linear(8, 4)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            model(torch.randn(2, 8)).sum().backward()
    trace_path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(trace_path))
    ops = [tracker.ProfileOp(e.key, "aten", e.count, e.self_cpu_time_total * 1e3,
                             e.cpu_time_total * 1e3) for e in prof.key_averages()]
    run = tracker.init("p", name="r", db=db_path)
    run.log({"loss": 1.0})
    run.log_profile(tracker.Profile(ops=ops, name="torch", framework="torch",
                                    trace=trace_path.read_bytes(),
                                    trace_format="torch_chrome_json", trace_name="worker0"))
    run.finish()

    export_tensorboard(tmp_path / "tb", db=db_path)

    (path,) = (tmp_path / "tb").rglob("*.pt.trace.json.gz")
    assert path.name.startswith("worker0.")
    assert path.parent.name.startswith("r-")  # next to the run's event files
    trace = json.loads(gzip.decompress(path.read_bytes()))
    assert any(e.get("name", "").startswith("aten::") for e in trace["traceEvents"])


def test_real_jax_xplane_is_copied_as_is(db_path: Path, tmp_path: Path) -> None:
    import jax
    import jax.numpy as jnp

    step = jax.jit(lambda x: jnp.tanh(x @ x).sum())
    step(jnp.ones((8, 8))).block_until_ready()
    with jax.profiler.trace(str(tmp_path / "jaxtrace")):
        for _ in range(3):
            step(jnp.ones((8, 8))).block_until_ready()
    (xplane,) = (tmp_path / "jaxtrace").rglob("*.xplane.pb")
    run = tracker.init("p", name="r", db=db_path)
    run.log({"loss": 1.0})
    run.log_profile(tracker.Profile(name="jax", framework="jax", trace=xplane.read_bytes(),
                                    trace_format="xplane", trace_name=xplane.name.split(".")[0]))
    run.finish()

    export_tensorboard(tmp_path / "tb", db=db_path)

    (exported,) = (tmp_path / "tb").rglob("*.xplane.pb")
    assert exported.read_bytes() == xplane.read_bytes()
    assert exported.name == xplane.name
    parsed = jax.profiler.ProfileData.from_file(str(exported))
    assert any(plane.name for plane in parsed.planes)
