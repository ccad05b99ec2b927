"""tracker.hooks.jax.log_graph: jaxpr nodes and edges, raw StableHLO/HLO, nnx module trees."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

import tracker
from tracker.hooks import jax as tj


def _mlp_loss(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    with jax.named_scope("dense1"):
        h = jax.nn.relu(x @ params["w1"] + params["b1"])
    with jax.named_scope("head"):
        out = h @ params["w2"]
    return jnp.mean((out - y) ** 2)


PARAMS = {"w1": jnp.ones((8, 16)), "b1": jnp.zeros((16,)), "w2": jnp.ones((16, 4))}
X, Y = jnp.ones((32, 8)), jnp.zeros((32, 4))


def _stored(db: Path, run_id: str) -> list[tracker.Graph]:
    with tracker.open_store(db) as store:
        return [store.graph(info.id) for info in store.graphs(run_id)]


def test_value_and_grad_graph_reads_back_with_shapes_scopes_and_raw_forms(db_path: Path) -> None:
    run = tracker.init("jax", db=db_path)
    returned = tj.log_graph(run, jax.jit(jax.value_and_grad(_mlp_loss)), PARAMS, X, Y)
    run.finish()

    (graph,) = _stored(db_path, run.id)
    assert returned is not None and len(graph.nodes) == len(returned.nodes)
    assert (graph.framework, graph.source, graph.raw_format) == ("jax", "jaxpr", "stablehlo")
    by_name = {n.name: n for n in graph.nodes}
    assert len(by_name) == len(graph.nodes)  # names are unique
    kinds = [n.kind for n in graph.nodes]
    assert kinds.count("param") == 3 and kinds.count("input") == 2
    assert kinds.count("output") == 4  # the loss and three gradients
    assert graph.total_params == 8 * 16 + 16 + 16 * 4
    assert by_name["params.w1"].shape == "[8, 16]" and by_name["params.w1"].scope == "params"
    assert by_name["x"].shape == "[32, 8]" and by_name["x"].dtype == "float32"
    # Forward matmuls under their named scopes, backward ones under transpose(jvp(...)).
    dots = [n for n in graph.nodes if n.op == "dot_general"]
    assert {n.scope for n in dots} == {
        "jvp(dense1)", "jvp(head)", "transpose(jvp(head))", "transpose(jvp(dense1))"
    }
    assert next(n for n in dots if n.scope == "jvp(dense1)").shape == "[32, 16]"
    # Edges are data flow: x and w1 feed the first matmul; every op is reachable from an input.
    first = next(i for i, n in enumerate(graph.nodes) if n.scope == "jvp(dense1)" and n.op == "dot_general")
    index = {n.name: i for i, n in enumerate(graph.nodes)}
    assert (index["x"], first) in graph.edges and (index["params.w1"], first) in graph.edges
    assert len(graph.edges) == len(set(graph.edges)) >= len(graph.nodes) - 1
    outputs = [i for i, n in enumerate(graph.nodes) if n.kind == "output"]
    assert all(any(d == o for _, d in graph.edges) for o in outputs)
    assert "stablehlo.dot_general" in graph.raw.decode()
    assert "HloModule" in graph.meta["compiled_hlo"]
    assert graph.meta["flops"] > 2 * 32 * 8 * 16  # at least the first matmul
    assert graph.meta["bytes_accessed"] > 0


def test_scan_keeps_a_loop_node_with_its_body_inside(db_path: Path) -> None:
    def rollout(w: jax.Array, xs: jax.Array) -> jax.Array:
        def body(carry: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
            carry = jnp.tanh(carry @ w + x)
            return carry, carry.sum()

        return jax.lax.scan(body, jnp.zeros(4), xs)[1]

    run = tracker.init("jax", db=db_path)
    tj.log_graph(run, rollout, jnp.eye(4), jnp.ones((10, 4)), compile=False)
    run.finish()

    (graph,) = _stored(db_path, run.id)
    assert "compiled_hlo" not in graph.meta and graph.raw_format == "stablehlo"
    index = {n.name: i for i, n in enumerate(graph.nodes)}
    scan = graph.nodes[index["scan"]]
    assert scan.op == "scan" and scan.shape == "[4], [10]"
    body = [n for n in graph.nodes if n.scope == "scan.jaxpr"]
    assert {"dot_general", "tanh", "reduce_sum"} <= {n.op for n in body}
    assert (index["w"], index["scan"]) in graph.edges
    assert (index["scan"], index["output"]) in graph.edges
    assert any(src == index["xs"] and graph.nodes[dst].scope == "scan.jaxpr"
               for src, dst in graph.edges)


class _Net(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.encoder = nnx.Linear(8, 16, rngs=rngs)
        self.blocks = nnx.List([nnx.Linear(16, 16, rngs=rngs) for _ in range(2)])
        self.norm = nnx.BatchNorm(16, rngs=rngs)
        self.head = nnx.Linear(16, 4, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jax.nn.relu(self.encoder(x))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def test_nnx_module_argument_adds_the_module_tree(db_path: Path) -> None:
    model = _Net(nnx.Rngs(0))
    n_params = sum(p.size for p in jax.tree_util.tree_leaves(nnx.state(model, nnx.Param)))

    def loss(model: _Net, x: jax.Array) -> jax.Array:
        return (model(x) ** 2).mean()

    run = tracker.init("jax", db=db_path)
    tj.log_graph(run, loss, model, X, compile=False)
    run.finish()

    jaxpr, tree = _stored(db_path, run.id)
    assert jaxpr.total_params == n_params == 8 * 16 + 16 + 2 * (16 * 16 + 16) + 2 * 16 + 16 * 4 + 4
    params = {n.name for n in jaxpr.nodes if n.kind == "param"}
    assert "model.encoder.kernel" in params and "model.norm.mean" not in params  # BatchStat
    assert (tree.source, tree.name, tree.total_params) == ("nnx", "_Net", n_params)
    nodes = {n.name: n for n in tree.nodes}
    assert set(nodes) == {"_Net", "encoder", "blocks", "blocks.0", "blocks.1", "norm", "head"}
    assert (nodes["blocks.1"].op, nodes["blocks.1"].scope, nodes["blocks.1"].params) == (
        "Linear", "_Net/blocks", 16 * 16 + 16
    )
    assert nodes["blocks"].attrs["total_params"] == 2 * (16 * 16 + 16)
    assert nodes["norm"].params == 32 and "BatchStat" in nodes["norm"].attrs["variables"]["mean"]


def test_log_module_without_tracing(db_path: Path) -> None:
    run = tracker.init("jax", db=db_path)
    tj.log_module(run, _Net(nnx.Rngs(0)), name="net")
    with pytest.raises(TypeError, match="flax.nnx Module"):
        tj.log_module(run, {"w": jnp.ones(2)})
    run.finish()
    (tree,) = _stored(db_path, run.id)
    assert tree.name == "net" and tree.nodes[0].kind == "module"


def test_untraceable_function_warns_and_training_goes_on(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def branchy(x: jax.Array) -> jax.Array:
        return x if x.sum() > 0 else -x  # Python control flow on a traced value

    run = tracker.init("jax", db=db_path)
    assert tj.log_graph(run, branchy, jnp.ones(3)) is None
    assert "tracker: no graph for branchy" in caplog.text
    run.log({"loss": 1.0})
    run.finish()
    assert _stored(db_path, run.id) == []


def test_shape_structs_need_no_real_arrays(db_path: Path) -> None:
    spec = jax.ShapeDtypeStruct((1024, 512), jnp.bfloat16)
    run = tracker.init("jax", db=db_path)
    tj.log_graph(run, lambda a: (a @ a.T).astype(jnp.float32).sum(), spec, name="gram")
    run.finish()
    (graph,) = _stored(db_path, run.id)
    assert graph.name == "gram" and graph.nodes[0].dtype == "bfloat16"
    assert graph.meta["flops"] >= 2 * 1024 * 1024 * 512
