"""Model graphs from torch: fx with shapes, the forward-hook fallback, the module tree; read back."""

from __future__ import annotations

import pytest
import torch

import tracker
from tracker.hooks.torch import capture_graph, log_graph, watch

torch.set_num_threads(1)


class Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.act = torch.nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x)) + x.mean(1, keepdim=True)


class ConvNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block1 = Block()
        self.head = torch.nn.Linear(4 * 8 * 8, 10)
        self.scale = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.block1(x), 1)) * self.scale


class Dynamic(torch.nn.Module):
    """Data-dependent control flow and a dict + string input: what fx (and add_graph) cannot do."""

    def __init__(self) -> None:
        super().__init__()
        self.pos = torch.nn.Linear(8, 8)
        self.neg = torch.nn.Linear(8, 8)
        self.head = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(8, 2))
        self.dropout = torch.nn.Dropout(0.5)

    def forward(self, batch: dict[str, torch.Tensor], mode: str = "train") -> torch.Tensor:
        x = batch["x"]
        x = self.pos(x) if x.sum() > 0 else self.neg(x)
        if mode == "train":
            x = self.dropout(x)
        return self.head(x + 1)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_fx_graph_with_shapes_scopes_and_params(db_path) -> None:
    model = ConvNet()
    run = tracker.init("graph", db=db_path)
    log_graph(model, torch.randn(2, 3, 8, 8), run=run)
    run.finish()
    with tracker.open_store(db_path) as store:
        (info,) = store.graphs(run.id)
        graph = store.graph(info.id)
    assert (info.framework, info.source, info.raw_format) == ("torch", "fx", "fx_code")
    raw = graph.raw.decode() if isinstance(graph.raw, bytes) else graph.raw
    assert "def forward" in raw
    nodes = {n.name: n for n in graph.nodes}
    conv = nodes["block1_conv"]
    assert (conv.op, conv.scope, conv.kind, conv.shape) == ("Conv2d", "block1", "module", "[2, 4, 8, 8]")
    assert conv.params == 3 * 4 * 9 + 4 and conv.dtype == "float32"
    assert nodes["head"].shape == "[2, 10]"
    assert nodes["scale"].kind == "param" and nodes["scale"].params == 1
    assert nodes["x"].kind == "input" and nodes["output"].kind == "output"
    assert info.total_params == _params(model)
    names = [n.name for n in graph.nodes]
    edges = {(names[a], names[b]) for a, b in graph.edges}
    assert ("block1_conv", "block1_act") in edges and ("x", "block1_conv") in edges
    add = next(n for n in graph.nodes if n.op == "add")
    assert add.scope == "block1"  # functions inside a module keep its scope


def test_data_dependent_control_flow_falls_back_to_hooks(db_path) -> None:
    model = Dynamic()
    model.train()
    batch = {"x": torch.ones(4, 8)}
    run = tracker.init("graph", db=db_path)
    graph = log_graph(model, (batch,), kwargs={"mode": "train"}, run=run)
    run.finish()
    assert graph.source == "hooks" and "TraceError" in graph.meta["fallback_reason"]
    with tracker.open_store(db_path) as store:
        stored = store.graph(store.graphs(run.id)[0].id)
    nodes = {n.name: n for n in stored.nodes}
    assert "pos" in nodes and "neg" not in nodes  # the branch that ran, in call order
    assert nodes["head.1"].scope == "head" and nodes["head.1"].shape == "[4, 2]"
    assert nodes["head"].attrs["container"] is True
    names = [n.name for n in stored.nodes]
    edges = {(names[a], names[b]) for a, b in stored.edges}
    assert ("input", "pos") in edges and ("head.1", "output") in edges
    assert ("head.0", "head.1") in edges
    # parameters of the modules that ran, each counted once
    assert stored.total_params == _params(model.pos) + _params(model.head)
    assert model.training and model.dropout.training  # the capture restored train mode


def test_capture_without_input_gives_fx_or_the_module_tree() -> None:
    fx = capture_graph(ConvNet())
    assert fx.source == "fx" and all(n.shape is None for n in fx.nodes)
    tree = capture_graph(Dynamic())
    assert tree.source == "module_tree" and tree.edges == []
    assert {n.name for n in tree.nodes} >= {"pos", "neg", "head", "head.0", "head.1"}
    assert tree.total_params == _params(Dynamic())


def test_method_argument_is_checked() -> None:
    with pytest.raises(ValueError, match="method"):
        capture_graph(ConvNet(), method="jit")
    with pytest.raises(Exception, match="control flow"):
        capture_graph(Dynamic(), ({"x": torch.ones(1, 8)},), method="fx")


def test_watch_stores_the_graph_from_the_first_training_step(db_path) -> None:
    def outputs(with_watch: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = Dynamic()
        if with_watch:
            watch(model, run, log_every=1000)
        return [model({"x": torch.randn(4, 8)}, mode="train") for _ in range(2)]

    run = tracker.init("graph", db=db_path)
    plain = outputs(False)
    watched = outputs(True)
    run.finish()
    # the capture forward ran in eval mode without autograd: no dropout RNG drawn, same training
    assert all(torch.equal(a, b) for a, b in zip(plain, watched))
    with tracker.open_store(db_path) as store:
        infos = store.graphs(run.id)
        assert len(infos) == 1 and infos[0].source == "hooks"
        graph = store.graph(infos[0].id)
    assert next(n for n in graph.nodes if n.kind == "input").shape == "[4, 8]"
