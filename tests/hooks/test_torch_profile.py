"""profile(): torch.profiler rows, step times and the chrome trace stored with the run."""

from __future__ import annotations

import json
import sys

import pytest
import torch

import tracker
from tracker.hooks.torch import profile

torch.set_num_threads(1)


def _model() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def _step(model: torch.nn.Module, opt: torch.optim.Optimizer) -> torch.Tensor:
    loss = model(torch.randn(8, 16)).pow(2).mean()
    loss.backward()
    opt.step()
    opt.zero_grad()
    return loss


def test_profile_over_optimizer_steps_stores_op_rows_and_trace(db_path, capfd) -> None:
    model, opt = _model()
    run = tracker.init("prof", db=db_path)
    for step in range(3):
        run.log({"loss": _step(model, opt)}, step=step)
    with profile(run, steps=3) as window:
        for step in range(3, 10):  # more steps than the window: the rest is not recorded
            run.log({"loss": _step(model, opt)}, step=step)
    run.finish()
    assert window.profile is not None
    with tracker.open_store(db_path) as store:
        (info,) = store.profiles(run.id)
        prof = store.profile(info.id)
    assert (info.framework, info.trace_format) == ("torch", "torch_chrome_json")
    assert (prof.step_from, prof.step_to) == (4, 6)  # step 3 was the warmup
    assert [s for s, _ in prof.step_times_ns] == [4, 5, 6]
    assert all(ns > 0 for _, ns in prof.step_times_ns) and prof.duration_ns > 0
    addmm = [op for op in prof.ops if op.name == "aten::addmm"]  # one row per input shape
    assert len(addmm) == 2 and sum(op.calls for op in addmm) == 3 * 2  # 2 Linear layers a step
    first = next(op for op in addmm if "[8, 16]" in (op.shapes or ""))
    assert first.category == "aten" and first.self_ns > 0 and first.total_ns >= first.self_ns
    assert first.flops == 3 * (2 * 8 * 16 * 32)  # summed over the 3 calls
    assert any(op.category == "user" and op.name.startswith("Optimizer.step") for op in prof.ops)
    assert prof.ops[0].self_ns >= prof.ops[-1].self_ns  # sorted by self time
    trace = json.loads(prof.trace)
    assert any(e.get("name") == "aten::addmm" for e in trace["traceEvents"])
    assert "profiler_start" not in capfd.readouterr().err  # kineto's USDT lines stay out


def test_native_noise_is_dropped_and_everything_else_written(capfd) -> None:
    import os

    from tracker.hooks._shared.native_noise import quiet_native_noise

    with quiet_native_noise():
        os.write(2, b"USDT:2026 1:1 SyncActivityProfilerHandler.cpp:52] profiler_start\n")
        os.write(2, b"a real error\n")
        print("from python", file=sys.stderr)
    err = capfd.readouterr().err
    assert "profiler_start" not in err
    assert "a real error\n" in err and "from python\n" in err


@pytest.mark.filterwarnings("ignore:Profiler won't be using warmup")  # warmup=0 on purpose
def test_manual_steps_and_a_window_cut_short(db_path) -> None:
    model, opt = _model()
    run = tracker.init("prof", db=db_path)
    with profile(run, steps=5, warmup=0, step_on="manual", trace=False) as window:
        for _ in range(2):
            _step(model, opt)
            window.step()
    run.finish()
    with tracker.open_store(db_path) as store:
        (info,) = store.profiles(run.id)
        prof = store.profile(info.id)
    assert info.trace_format is None and prof.trace is None
    assert len(prof.step_times_ns) == 2  # what was recorded before the block ended
    assert prof.ops


def test_no_step_in_the_block_says_what_to_do(db_path, caplog) -> None:
    run = tracker.init("prof", db=db_path)
    with profile(run, steps=2):
        pass
    assert "tracker: profile() recorded no step" in caplog.text
    run.finish()
    with tracker.open_store(db_path) as store:
        assert store.profiles(run.id) == []


def test_disabled_run_does_not_profile() -> None:
    with profile(tracker.DisabledRun("p"), steps=2) as window:
        pass
    assert window.profile is None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="steps"):
        profile(tracker.DisabledRun("p"), steps=0)
    with pytest.raises(ValueError, match="step_on"):
        profile(tracker.DisabledRun("p"), step_on="epoch")
