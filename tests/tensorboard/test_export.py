"""Export: every kind of data read back with TensorBoard's own EventAccumulator."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.tensorboard.export import export_tensorboard

WALL0 = 1_700_000_000.0


@pytest.fixture
def db_path(any_store: Path) -> Path:
    """Every test here runs on both backends (SQLite and PostgreSQL)."""
    return any_store


def _only_run(data: dict) -> dict:
    runs = [r for r in data.values() if r["tensors"] or r["scalars"]]
    assert len(runs) == 1, list(data)
    return runs[0]


def _scalar_points(run: dict, tag: str) -> list[tuple[float, int, float]]:
    return [(w, s, v[0] if isinstance(v, list) else v) for w, s, v, _ in run["tensors"][tag]]


def test_scalars_keep_every_point_float64_and_wall_times(db_path: Path, tmp_path: Path, dump) -> None:
    values = np.array([0.1, 1 / 3, math.pi * 1e-300, math.nan, math.inf, -math.inf, 2.0**60 + 1])
    steps = np.array([0, 1, 2, 2, 5, 3, -4])  # repeats and steps going backwards are kept
    walls = WALL0 + np.array([0.0, 1.25, 2.5, 2.5, 3.0, 4.0, 5.0])
    run = tracker.init("p", name="r", db=db_path)
    run.log_series("loss", steps, values, walls)
    run.log_series("eval/acc", np.array([0, 1]), np.array([0.5, 0.75]), np.array([WALL0, WALL0 + 1.25]))
    run.finish()

    export_tensorboard(tmp_path / "tb", db=db_path, float64=True)
    got = _only_run(dump(tmp_path / "tb"))

    assert got["plugins"]["loss"] == "scalars"
    points = _scalar_points(got, "loss")
    assert [p[1] for p in points] == steps.tolist()
    assert [p[0] for p in points] == walls.tolist()
    for (_, _, value), expected in zip(points, values):
        assert (math.isnan(value) and math.isnan(expected)) or value == expected  # exact float64
    assert all(dtype == 2 for *_, dtype in got["tensors"]["loss"])  # DT_DOUBLE
    assert _scalar_points(got, "eval/acc") == [(WALL0, 0, 0.5), (WALL0 + 1.25, 1, 0.75)]


def test_default_writes_float32_simple_values(db_path: Path, tmp_path: Path, dump) -> None:
    run = tracker.init("p", name="r", db=db_path)
    for i in range(50):
        run.log({"a": i / 7, "b": float(i)}, step=i)
    run.finish()

    export_tensorboard(tmp_path / "tb", db=db_path)
    got = _only_run(dump(tmp_path / "tb"))

    assert [v for _, _, v in got["scalars"]["a"]] == [float(np.float32(i / 7)) for i in range(50)]
    assert [s for _, s, _ in got["scalars"]["b"]] == list(range(50))
    with tracker.open_store(db_path) as store:
        walls = store.series(store.runs()[0].id, "a").walls
    assert np.allclose([w for w, _, _ in got["scalars"]["a"]], walls, rtol=0, atol=1e-6)


def test_histograms_text_and_hparams(db_path: Path, tmp_path: Path, dump) -> None:
    config = {"lr": 0.001, "model": {"layers": [64, 32], "act": "relu"}, "amp": True, "seed": None}
    run = tracker.init("p", name="r", config=config, db=db_path)
    run.log({"loss": 0.5}, step=0)
    hist = tracker.Histogram(edges=np.array([-1.0, 0.0, 0.5, 2.0]), counts=np.array([3.0, 0.0, 7.0]),
                             min=-0.9, max=1.9, sum=4.0, sum_squares=9.0, count=10.0)
    run.log_histogram("weights", hist, step=3, wall=WALL0 + 3)
    run.log_histogram("weights", np.arange(100.0), step=4, bins=5, wall=WALL0 + 4)
    run.log_text("notes", "**bold** and <b>raw</b>\nline 2", step=2, wall=WALL0 + 2)
    run.finish()

    export_tensorboard(tmp_path / "tb", db=db_path)
    got = _only_run(dump(tmp_path / "tb"))

    assert got["plugins"]["weights"] == "histograms"
    (w3, s3, b3, _), (w4, s4, b4, _) = got["tensors"]["weights"]
    assert (w3, s3, w4, s4) == (WALL0 + 3, 3, WALL0 + 4, 4)
    assert b3 == [[-1.0, 0.0, 3.0], [0.0, 0.5, 0.0], [0.5, 2.0, 7.0]]
    assert [row[2] for row in b4] == [20.0] * 5 and b4[0][0] == 0.0 and b4[-1][1] == 99.0
    assert got["plugins"]["notes"] == "text"
    assert got["tensors"]["notes"] == [[WALL0 + 2, 2, ["**bold** and <b>raw</b>\nline 2"], 7]]
    assert got["hparams"]["values"] == {
        "lr": 0.001, "model.layers[0]": 64.0, "model.layers[1]": 32.0, "model.act": "relu",
        "amp": True,
    }


def test_hand_built_graph_and_keras_model(db_path: Path, tmp_path: Path, dump) -> None:
    graph = tracker.Graph(name="net", framework="keras", source="keras_config",
                          raw='{"class_name": "Sequential", "config": {"layers": []}}',
                          raw_format="keras_json")
    x = graph.add(tracker.GraphNode("x", "Placeholder", kind="input", shape="[None, 4]"))
    fc = graph.add(tracker.GraphNode("fc", "Dense", scope="block1", shape="[None, 8]", params=40))
    act = graph.add(tracker.GraphNode("act", "ReLU", scope="block1/inner", shape="[None, 8]"))
    graph.connect(x, fc)
    graph.connect(fc, act)
    run = tracker.init("p", name="r", db=db_path)
    run.log({"loss": 1.0})
    run.log_graph(graph)
    run.finish()

    export_tensorboard(tmp_path / "tb", db=db_path)
    got = _only_run(dump(tmp_path / "tb"))

    assert got["graph"] == [
        ["x", "Placeholder", [], [[-1, 4]]],
        ["block1/fc", "Dense", ["x"], [[-1, 8]]],
        ["block1/inner/act", "ReLU", ["block1/fc"], [[-1, 8]]],
    ]
    assert got["plugins"]["keras"] == "graph_keras_model"
    assert got["tensors"]["keras"][0][2] == [graph.raw]


def test_torch_fx_graph_from_a_real_capture(db_path: Path, tmp_path: Path, dump) -> None:
    import torch
    from torch.fx.passes.shape_prop import ShapeProp

    torch.set_num_threads(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    traced = torch.fx.symbolic_trace(model)
    ShapeProp(traced).propagate(torch.zeros(3, 4))
    graph = tracker.Graph(name="mlp", framework="torch", source="fx",
                          raw=traced.code, raw_format="fx_code")
    index = {}
    for node in traced.graph.nodes:
        meta = node.meta.get("tensor_meta")
        shape = str(list(meta.shape)) if meta is not None and hasattr(meta, "shape") else None
        kind = {"placeholder": "input", "output": "output"}.get(node.op, "module")
        index[node] = graph.add(tracker.GraphNode(node.name, str(node.target), kind=kind, shape=shape))
        for source in node.all_input_nodes:
            graph.connect(index[source], index[node])
    run = tracker.init("p", name="r", db=db_path)
    run.log({"loss": 1.0})
    run.log_graph(graph)
    run.finish()

    export_tensorboard(tmp_path / "tb", db=db_path)
    nodes = _only_run(dump(tmp_path / "tb"))["graph"]

    assert [n[0] for n in nodes] == [n.name for n in traced.graph.nodes]
    by_name = {n[0]: n for n in nodes}
    assert by_name["_1"][2] == ["_0"] and by_name["_1"][3] == [[3, 8]]
    assert by_name["_2"][3] == [[3, 2]]


def test_second_graph_goes_to_a_sub_run(db_path: Path, tmp_path: Path, dump) -> None:
    run = tracker.init("p", name="r", db=db_path)
    run.log({"loss": 1.0})
    for name in ("train_step", "eval_step"):
        g = tracker.Graph(name=name, framework="jax", source="jaxpr")
        g.connect(g.add(tracker.GraphNode("a", "dot")), g.add(tracker.GraphNode("b", "add")))
        run.log_graph(g)
    run.finish()

    export_tensorboard(tmp_path / "tb", db=db_path)
    got = dump(tmp_path / "tb")

    graphs = {rel: r["graph"] for rel, r in got.items() if r["graph"]}
    assert len(graphs) == 2
    sub = [rel for rel in graphs if Path(rel).name.startswith("graph-eval_step")]
    assert len(sub) == 1 and graphs[sub[0]][1] == ["b", "add", ["a"], []]


@pytest.mark.slow
def test_real_keras_model_conceptual_graph(db_path: Path, tmp_path: Path, dump) -> None:
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="hidden"),
                              keras.layers.Dense(2, name="out")], name="tiny")
    graph = tracker.Graph(name="tiny", framework="keras", source="keras_config",
                          raw=model.to_json(), raw_format="keras_json")
    for layer in model.layers:
        graph.add(tracker.GraphNode(layer.name, type(layer).__name__, kind="module",
                                    params=layer.count_params()))
    graph.connect(0, 1)
    run = tracker.init("p", name="r", db=db_path)
    run.log({"loss": 1.0})
    run.log_graph(graph)
    run.finish()

    export_tensorboard(tmp_path / "tb", db=db_path)
    got = _only_run(dump(tmp_path / "tb"))

    assert got["plugins"]["keras"] == "graph_keras_model"
    assert "hidden" in got["tensors"]["keras"][0][2][0]
    assert [n[:3] for n in got["graph"]] == [["hidden", "Dense", []], ["out", "Dense", ["hidden"]]]
    from tensorboard.plugins.graph import keras_util

    conceptual = keras_util.keras_model_to_graph_def(json.loads(got["tensors"]["keras"][0][2][0]))
    assert {n.name.split("/")[-1] for n in conceptual.node} >= {"hidden", "out"}
