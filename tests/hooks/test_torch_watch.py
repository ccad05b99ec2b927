"""watch()/unwatch() on tiny real torch models: statistics read back through the store."""

from __future__ import annotations

import math
import threading
from importlib import import_module
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

import tracker
from tracker.hooks.torch import unwatch, watch
from tracker.hooks.torch.stats import (
    activation_stats,
    device_histogram,
    packed_histogram,
    unpack_histogram,
)
from tracker.records import KeyInfo

torch.set_num_threads(1)


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 16)
        self.act = torch.nn.ReLU()
        self.fc2 = torch.nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def _train(model: torch.nn.Module, run: tracker.Run, steps: int, *, lr: float = 0.1) -> list[float]:
    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        x = torch.randn(4, 8)
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        run.log({"loss": loss}, step=step)
        losses.append(loss.item())
    return losses



def _watch_module() -> ModuleType:
    """The module tracker.hooks.torch.watch (the package's ``watch`` attribute is the function)."""
    return import_module("tracker.hooks.torch.watch")


@pytest.fixture(params=["worker", "inline"])
def offload(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Both ways of computing statistics: on the worker thread (CPU models) and inline, as on a
    GPU (device tensors handed to run.log and copied back asynchronously)."""
    from tracker.hooks.torch.watch import Watcher

    monkeypatch.setattr(Watcher, "offload_cpu", request.param == "worker")
    return request.param == "worker"


@pytest.fixture
def histogram_threads(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The names of the threads watch() computes histograms on (filled as it does)."""
    torch_watch = _watch_module()

    threads: set[str] = set()
    real_histogram = torch_watch.packed_histogram

    def histogram(x: torch.Tensor, bins: int) -> torch.Tensor:
        threads.add(threading.current_thread().name)
        return real_histogram(x, bins)

    monkeypatch.setattr(torch_watch, "packed_histogram", histogram)
    return threads


def _train_watched(db_path, steps: int, **watch_kwargs: Any) -> tracker.Run:
    """Train a fresh Net for ``steps`` under watch(), unwatch it and finish the run."""
    model = Net()
    run = tracker.init("watch", db=db_path)
    watch(model, run, graph=False, **watch_kwargs)
    _train(model, run, steps)
    unwatch(model)
    run.finish()
    return run


def _keys(db_path, run_id: str) -> dict[str, KeyInfo]:
    with tracker.open_store(db_path) as store:
        return {k.key: k for k in store.keys(run_id)}


def test_watch_logs_statistics_every_n_steps(db_path, offload) -> None:
    torch.manual_seed(0)
    model = Net()
    run = tracker.init("watch", db=db_path)
    watch(model, run, log_every=5, graph=False)
    losses = _train(model, run, 12)
    unwatch(model)
    run.finish()
    keys = _keys(db_path, run.id)
    for key in ("grad_norm/fc1.weight", "weight_norm/fc2.bias", "update_ratio/fc1.weight",
                "grad_norm_total", "act_mean/fc1", "act_std/act", "act_zeros/act",
                "act_nan/fc2", "act_inf/fc2"):
        assert key in keys, key
        assert keys[key].count == 3 and keys[key].first_step == 0 and keys[key].last_step == 10
    assert keys["weights/fc1.weight"].kind == "histogram"
    assert keys["grads/fc2.weight"].kind == "histogram"
    assert keys["loss"].count == 12
    with tracker.open_store(db_path) as store:
        assert store.series(run.id, "loss").values.tolist() == pytest.approx(losses)
        zeros = store.series(run.id, "act_zeros/act").values
        assert np.all((zeros > 0) & (zeros < 1))  # ReLU zeroes some, not all
        hist = store.histograms(run.id, "weights/fc1.weight")[0].histogram
        assert hist.count == 8 * 16


def test_statistics_match_a_manual_computation(db_path, offload) -> None:
    torch.manual_seed(0)
    model = Net()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    run = tracker.init("watch", db=db_path)
    watch(model, run, log_every=100, graph=False)
    x = torch.randn(4, 8)
    loss = model(x).pow(2).mean()
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    torch.optim.SGD(model.parameters(), lr=0.5).step()
    unwatch(model)  # logs step 0 now (the next forward would too)
    run.finish()
    with tracker.open_store(db_path) as store:
        def value(key: str) -> float:
            return float(store.series(run.id, key).values[0])

        for name, p in model.named_parameters():
            assert value(f"grad_norm/{name}") == pytest.approx(grads[name].norm().item(), rel=1e-5)
            assert value(f"weight_norm/{name}") == pytest.approx(before[name].norm().item(), rel=1e-5)
            ratio = (p.detach() - before[name]).norm().item() / before[name].norm().item()
            assert value(f"update_ratio/{name}") == pytest.approx(ratio, rel=1e-4)
        total = math.sqrt(sum(g.norm().item() ** 2 for g in grads.values()))
        assert value("grad_norm_total") == pytest.approx(total, rel=1e-5)
        hidden = torch.relu(torch.nn.functional.linear(x, before["fc1.weight"], before["fc1.bias"]))
        assert value("act_mean/act") == pytest.approx(hidden.mean().item(), rel=1e-5)
        assert value("act_zeros/act") == pytest.approx((hidden == 0).float().mean().item())


def test_per_module_groups_parameters(db_path, offload) -> None:
    torch.manual_seed(0)
    model = Net()
    run = tracker.init("watch", db=db_path)
    watch(model, run, log_every=1, per="module", histograms=False, graph=False)
    model(torch.randn(4, 8)).pow(2).mean().backward()
    grads = [model.fc1.weight.grad.clone(), model.fc1.bias.grad.clone()]
    unwatch(model)
    run.finish()
    keys = _keys(db_path, run.id)
    assert {"grad_norm/fc1", "grad_norm/fc2", "weight_norm/fc1", "update_ratio/fc2"} <= set(keys)
    assert not any(k.startswith("grad_norm/fc1.") for k in keys)
    expected = torch.cat([g.reshape(-1) for g in grads]).norm().item()
    assert keys["grad_norm/fc1"].last_value == pytest.approx(expected, rel=1e-5)
    assert keys["update_ratio/fc1"].last_value == 0.0  # no optimizer step was taken


def test_cpu_statistics_are_computed_off_the_training_thread_and_logged_on_it(
    db_path, monkeypatch, histogram_threads
) -> None:
    logged: set[str] = set()
    real_log = tracker.Run.log

    def log(self: tracker.Run, metrics: dict, step: int | None = None) -> None:
        if "grad_norm_total" in metrics:
            logged.add(threading.current_thread().name)
        real_log(self, metrics, step)

    monkeypatch.setattr(tracker.Run, "log", log)
    run = _train_watched(db_path, 5, log_every=2)
    assert histogram_threads == {"tracker-watch"}
    assert logged == {threading.current_thread().name}  # a DDP reduction must stay on this thread
    keys = _keys(db_path, run.id)
    assert keys["grad_norm_total"].count == 3 and keys["grads/fc1.weight"].count == 3
    _train_watched(db_path, 3, log_every=2)  # a second model
    assert [t.name for t in threading.enumerate()].count("tracker-watch") == 1  # one, shared


def test_finish_without_unwatch_logs_a_last_logging_step(db_path, offload) -> None:
    model = Net()
    run = tracker.init("watch", db=db_path)
    watch(model, run, log_every=2, graph=False)
    _train(model, run, 3)  # step 2, the last, is a logging step: no forward comes after it
    run.finish()  # no unwatch(): the run's end finishes the watch
    with tracker.open_store(db_path) as store:
        weights = [h.step for h in store.histograms(run.id, "weights/fc1.weight")]
        grads = [h.step for h in store.histograms(run.id, "grads/fc1.weight")]
        ratios = store.series(run.id, "update_ratio/fc1.weight")
    assert weights == grads == [0, 2]
    assert list(ratios.steps) == [0, 2] and all(r > 0 for r in ratios.values)
    assert model._forward_pre_hooks == {}  # its hooks went with the run
    unwatch(model)  # no error after the run closed it


def test_a_sigterm_mid_forward_leaves_the_watch_alone(db_path, monkeypatch) -> None:
    """From the SIGTERM handler (which may have stopped a forward or backward pass anywhere) the
    watch only hands over what is complete: the interrupted step's hooks stay until unwatch."""
    from tracker.run import lifecycle

    model = Net()
    run = tracker.init("watch", db=db_path)
    watch(model, run, log_every=2, graph=False)
    _train(model, run, 2)

    def finish_as_the_handler_would(module: Any, inputs: Any, output: Any) -> None:
        monkeypatch.setattr(lifecycle, "_in_signal_handler", True)
        run.finish(status="killed")
        monkeypatch.setattr(lifecycle, "_in_signal_handler", False)

    model.fc1.register_forward_hook(finish_as_the_handler_would)
    model(torch.randn(4, 8)).pow(2).mean().backward()  # step 2, a logging step, interrupted
    assert model.act._forward_hooks  # the activation hook of the unfinished step is still there
    unwatch(model)
    with tracker.open_store(db_path) as store:
        assert [h.step for h in store.histograms(run.id, "grads/fc1.weight")] == [0]
        assert store.run(run.id).status == "killed"


def test_activations_past_the_copy_budget_are_measured_where_they_are(db_path, monkeypatch) -> None:
    torch_watch = _watch_module()

    monkeypatch.setattr(torch_watch, "_ACT_COPY_BUDGET", 64)  # fc1's 4x16 output fits, no more
    torch.manual_seed(0)
    model = Net()
    run = tracker.init("watch", db=db_path)
    watch(model, run, log_every=100, graph=False)
    x = torch.randn(4, 8)
    model(x).pow(2).mean().backward()
    unwatch(model)
    run.finish()
    with torch.no_grad():
        fc1 = model.fc1(x)
        hidden = torch.relu(fc1)
    keys = _keys(db_path, run.id)
    assert keys["act_mean/fc1"].last_value == pytest.approx(fc1.mean().item(), rel=1e-5)
    assert keys["act_mean/act"].last_value == pytest.approx(hidden.mean().item(), rel=1e-5)
    assert keys["act_std/act"].last_value == pytest.approx(hidden.std().item(), rel=1e-4)
    assert keys["act_nan/fc2"].last_value == 0.0


def test_a_model_too_large_to_copy_is_measured_on_the_training_thread(
    db_path, monkeypatch, histogram_threads
) -> None:
    torch_watch = _watch_module()

    monkeypatch.setattr(torch_watch, "OFFLOAD_MAX_PARAMS", 100)  # Net has 178 parameters
    run = _train_watched(db_path, 3, log_every=2)
    assert histogram_threads == {threading.current_thread().name}
    assert _keys(db_path, run.id)["grads/fc1.weight"].count == 2


def test_off_steps_register_no_hooks_and_unwatch_removes_everything(db_path) -> None:
    model = Net()
    run = tracker.init("watch", db=db_path)
    watcher = watch(model, run, log_every=3, graph=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def hook_count() -> int:
        n = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
        return n + sum(len(p._post_accumulate_grad_hooks or {}) for p in model.parameters())

    counts = []
    for _ in range(3):
        model(torch.randn(2, 8)).sum().backward()
        counts.append(hook_count())
        opt.step()
        opt.zero_grad()
    # step 0 logs (root pre-hook + 3 leaf hooks + 4 grad hooks), steps 1 and 2 only the pre-hook
    assert counts == [1 + 3 + 4, 1, 1]
    # and no hook state is left on the parameters: an empty hook dict still costs every backward
    assert all(p._post_accumulate_grad_hooks is None for p in model.parameters())
    assert watcher.steps == 3
    with torch.no_grad():
        model.eval()
        model(torch.randn(2, 8))  # evaluation passes are not training steps
    assert watcher.steps == 3
    unwatch(model)
    assert hook_count() == 0 and watcher.closed
    run.finish()


def test_watch_twice_replaces_and_unwatch_all(db_path) -> None:
    model = Net()
    run = tracker.init("watch", db=db_path)
    first = watch(model, run, graph=False)
    second = watch(model, run, graph=False)
    assert first.closed and not second.closed
    assert len(model._forward_pre_hooks) == 1
    unwatch()
    assert second.closed and len(model._forward_pre_hooks) == 0
    run.finish()


def test_stats_never_read_a_value_on_the_training_thread(db_path) -> None:
    """On the meta device any host read (item, bool, nonzero) raises: a stand-in for a GPU sync."""
    x = torch.randn(1000, device="meta")
    assert device_histogram(x, 16).shape == (5 + 16,)
    assert all(v.device.type == "meta" for v in activation_stats(x).values())
    model = Net().to("meta")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    run = tracker.init("meta", db=db_path)
    watcher = watch(model, run, log_every=2, histograms=False, graph=False)
    for step in range(5):
        loss = model(torch.randn(4, 8, device="meta")).pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        run.log({"loss": loss}, step=step)
    unwatch(model)
    run.finish()
    assert not watcher.closed or watcher.steps == 5
    keys = _keys(db_path, run.id)
    assert keys["grad_norm/fc1.weight"].count == 3  # logged at steps 0, 2, 4 without any read


@pytest.mark.parametrize("histogram", [packed_histogram, device_histogram])
def test_histograms_match_numpy(histogram) -> None:
    values = torch.tensor([0.0, 1.0, 1.0, 2.5, float("nan"), float("inf"), -3.0])
    hist = unpack_histogram(histogram(values, 4).numpy())
    expected = tracker.Histogram.from_values(values.double().numpy(), bins=4)
    assert hist.counts.tolist() == expected.counts.tolist()
    assert hist.edges == pytest.approx(expected.edges)
    assert (hist.min, hist.max, hist.count) == (expected.min, expected.max, expected.count)
    assert hist.sum == pytest.approx(expected.sum) and hist.sum_squares == pytest.approx(
        expected.sum_squares
    )
    const = unpack_histogram(histogram(torch.full((5,), 2.0), 4).numpy())
    assert const.counts.sum() == 5 and const.edges[0] == 1.5
    for nothing in (torch.tensor([float("nan")]), torch.zeros(0)):
        empty = unpack_histogram(histogram(nothing, 4).numpy())
        assert empty.count == 0 and math.isnan(empty.min)
    big = torch.randn(10_000, dtype=torch.float64)  # past the small-tensor (numpy) path on CPU
    counts = unpack_histogram(histogram(big, 64).numpy()).counts
    assert counts.tolist() == tracker.Histogram.from_values(big.numpy(), 64).counts.tolist()
    bad = torch.cat((big, torch.tensor([float("nan"), float("inf"), -float("inf")] * 2000,
                                       dtype=torch.float64)))
    hist = unpack_histogram(histogram(bad, 64).numpy())
    assert hist.counts.tolist() == counts.tolist() and hist.count == 10_000
    assert hist.sum == pytest.approx(float(big.sum()))
    flat = unpack_histogram(histogram(torch.full((5000,), -1.0), 4).numpy())
    assert flat.counts.tolist() == [0, 0, 5000, 0] and flat.edges[0] == -1.5  # as numpy bins it


def test_compiled_model_says_what_it_cannot_see(db_path, caplog) -> None:
    torch.manual_seed(0)
    model = Net()
    compiled = torch.compile(model, backend="eager")
    run = tracker.init("compiled", db=db_path)
    watch(compiled, run, log_every=2)
    assert "tracker: watch(): activation statistics are off" in caplog.text
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        compiled(torch.randn(4, 8)).sum().backward()
        opt.step()
        opt.zero_grad()
    unwatch(compiled)
    run.finish()
    keys = _keys(db_path, run.id)
    assert keys["grad_norm/fc1.weight"].count == 2  # steps 0 and 2
    assert "update_ratio/fc2.bias" in keys
    assert not any(k.startswith("act_") for k in keys)
    with tracker.open_store(db_path) as store:
        graphs = store.graphs(run.id)
    assert len(graphs) == 1 and graphs[0].total_params == sum(p.numel() for p in model.parameters())


def test_disabled_run_registers_nothing(db_path) -> None:
    model = Net()
    watcher = watch(model, tracker.DisabledRun("p"))
    assert watcher.closed and len(model._forward_pre_hooks) == 0
    _train(model, tracker.DisabledRun("p"), 2)


def test_logged_device_tensors_are_kept_detached(db_path) -> None:
    """A device value (meta stands in for CUDA) is held until the writer reads it: detached."""
    import gc
    import weakref

    run = tracker.init("detach", db=db_path)
    w = torch.ones(3, requires_grad=True, device="meta")
    hidden = w * 2
    loss = (hidden * hidden).sum()  # its autograd graph saves `hidden`
    ref = weakref.ref(hidden)
    run.log({"loss": loss}, step=0)
    del loss, hidden
    gc.collect()
    assert ref() is None  # the buffered handle does not keep the autograd graph alive
    run.finish()
    with tracker.open_store(db_path) as store:
        assert store.keys(run.id)[0].count == 1


def test_watch_needs_a_run_and_a_module(db_path) -> None:
    tracker.finish()
    with pytest.raises(tracker.NoActiveRunError, match="tracker.init"):
        watch(Net())
    run = tracker.init("p", db=db_path)
    with pytest.raises(TypeError, match="nn.Module"):
        watch(object(), run)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="log_every"):
        watch(Net(), run, log_every=0)
    run.finish()


def test_an_error_inside_a_hook_never_stops_training(db_path, offload, monkeypatch, caplog) -> None:
    torch_watch = _watch_module()

    def broken(x: torch.Tensor, bins: int) -> torch.Tensor:
        raise RuntimeError("simulated statistics bug")

    monkeypatch.setattr(torch_watch, "packed_histogram", broken)  # used in the backward hook
    model = Net()
    run = tracker.init("watch", db=db_path)
    watcher = watch(model, run, log_every=1, weights=False, graph=False)
    losses = _train(model, run, 3)  # the loop goes on
    assert len(losses) == 3 and watcher.closed
    assert "simulated statistics bug" in caplog.text
    assert len(model._forward_pre_hooks) == 0
    assert all(len(p._post_accumulate_grad_hooks or {}) == 0 for p in model.parameters())
    run.finish()
