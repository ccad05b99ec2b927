"""Model graphs of torch modules as ``tracker.Graph``: torch.fx first, module forward hooks second.

``torch.fx.symbolic_trace`` (+ shapes from running it on an example input) gives the op-level data flow.
It fails on data-dependent control flow and on inputs it cannot proxy (strings, flags), the case
``SummaryWriter.add_graph`` fails on; then one forward with hooks on every module records the
module tree, call order, shapes and data flow between module calls. Without an example input and
without fx, the module tree alone is stored.
"""

from __future__ import annotations

from typing import Any

import torch

from ...graph import Graph, GraphNode
from .._shared.messages import describe
from .models import unwrap


def capture_graph(
    model: torch.nn.Module,
    args: tuple = (),
    kwargs: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    method: str = "auto",
) -> Graph:
    """Build the graph of ``model``; ``args``/``kwargs`` are an example input (optional).

    ``method`` is 'auto' (fx, then hooks, then the module tree), 'fx', 'hooks' or 'tree'.
    """
    if method not in ("auto", "fx", "hooks", "tree"):
        raise ValueError(f"method must be 'auto', 'fx', 'hooks' or 'tree', not {method!r}")
    kwargs = kwargs or {}
    inner = unwrap(model)
    name = name or type(inner).__name__
    reasons: list[str] = []
    has_input = bool(args or kwargs)
    if method in ("auto", "fx"):
        try:
            graph = _from_fx(inner, args, kwargs if has_input else None)
        except Exception as exc:  # TraceError, data-dependent control flow, odd inputs
            if method == "fx":
                raise
            reasons.append(f"fx: {describe(exc)}")
        else:
            graph.name = name
            return graph
    if method in ("auto", "hooks") and has_input:
        graph = _from_hooks(inner, args, kwargs)
    else:
        graph = _module_tree(inner)
    graph.name = name
    if reasons:
        graph.meta["fallback_reason"] = reasons[0]
    return graph


def _shape_text(value: Any) -> tuple[str | None, str | None]:
    tensors = _tensors(value)
    if not tensors:
        return None, None
    shapes = ", ".join(str(list(t.shape)) for t in tensors[:4])
    return shapes, str(tensors[0].dtype).replace("torch.", "")


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    out: list[torch.Tensor] = []
    if isinstance(value, (list, tuple)):
        for v in value:
            out += _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            out += _tensors(v)
    return out


class _EvalNoGrad:
    """Run a capture forward without autograd and in eval mode (no dropout RNG, no BN updates)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.flags: list[tuple[torch.nn.Module, bool]] = []
        self.no_grad = torch.no_grad()

    def __enter__(self) -> None:
        self.flags = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        self.no_grad.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.no_grad.__exit__(None, None, None)
        for m, flag in self.flags:
            m.training = flag


def _from_fx(model: torch.nn.Module, args: tuple, kwargs: dict[str, Any] | None) -> Graph:
    import torch.fx

    gm = torch.fx.symbolic_trace(model)
    shapes: dict[str, tuple[str | None, str | None]] = {}
    if kwargs is not None:
        if kwargs:
            raise TypeError("keyword example inputs are not traced by fx")
        with _EvalNoGrad(gm):
            shapes = _record_shapes(gm, args)
    graph = Graph(framework="torch", source="fx", raw=gm.code, raw_format="fx_code")
    index: dict[str, int] = {}
    counted: set[int] = set()
    for node in gm.graph.nodes:
        kind, op, scope, params = "op", str(node.target), "", 0
        stack = node.meta.get("nn_module_stack") or {}
        if stack:
            scope = list(stack.keys())[-1].replace(".", "/")
        if node.op == "placeholder":
            kind, op = "input", "input"
        elif node.op == "output":
            kind, op = "output", "output"
        elif node.op == "call_module":
            sub = gm.get_submodule(str(node.target))
            kind, op = "module", type(sub).__name__
            scope = str(node.target).rpartition(".")[0].replace(".", "/")
            if id(sub) not in counted:  # a module called twice owns its parameters once
                counted.add(id(sub))
                params = sum(p.numel() for p in sub.parameters())
        elif node.op == "get_attr":
            value = _attr(gm, str(node.target))
            kind = "param" if isinstance(value, torch.nn.Parameter) else "constant"
            op = "parameter" if kind == "param" else "constant"
            scope = str(node.target).rpartition(".")[0].replace(".", "/")
            if isinstance(value, torch.Tensor) and id(value) not in counted and kind == "param":
                counted.add(id(value))
                params = value.numel()
        else:  # call_function / call_method
            op = getattr(node.target, "__name__", str(node.target))
        shape, dtype = shapes.get(node.name, (None, None))
        index[node.name] = graph.add(
            GraphNode(
                name=node.name, op=op, scope=scope, kind=kind, shape=shape, dtype=dtype,
                params=params, attrs={"target": str(node.target), "fx_op": node.op},
            )
        )
        for src in node.all_input_nodes:
            graph.connect(index[src.name], index[node.name])
    return graph


def _attr(gm: torch.nn.Module, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _record_shapes(gm: Any, args: tuple) -> dict[str, tuple[str | None, str | None]]:
    """Run a GraphModule node by node and return each node's output shapes and dtype.

    Like torch.fx's ShapeProp, without its first-use import of sympy (0.7 s in a training process).
    """
    import torch.fx

    out: dict[str, tuple[str | None, str | None]] = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n: Any) -> Any:
            result = super().run_node(n)
            out[n.name] = _shape_text(result)
            return result

    Recorder(gm).run(*args)
    return out


def _scope_of(path: str) -> str:
    return path.rpartition(".")[0].replace(".", "/")


def _from_hooks(model: torch.nn.Module, args: tuple, kwargs: dict[str, Any]) -> Graph:
    """One forward with hooks on every module: the tree, call order, shapes, module data flow."""
    graph = Graph(framework="torch", source="hooks")
    producers: dict[int, int] = {}  # id(tensor) -> node that produced it (leaf modules only)
    keep: list[Any] = []  # tensors kept alive so their ids stay unique during the capture
    calls: dict[str, int] = {}
    open_calls: list[int] = []
    last_leaf: list[int] = []
    root = type(model).__name__
    for pname, p in model.named_parameters(recurse=False):
        graph.add(GraphNode(name=pname, op="parameter", kind="param", params=p.numel(),
                            shape=str(list(p.shape)), dtype=str(p.dtype).replace("torch.", "")))
    inp = graph.add(GraphNode(name="input", op="input", kind="input"))
    inputs = _tensors((args, kwargs))
    graph.nodes[inp].shape, graph.nodes[inp].dtype = _shape_text(inputs)
    for t in inputs:
        producers[id(t)] = inp
    handles = []
    for path, module in model.named_modules():
        if not path:
            continue
        leaf = not any(True for _ in module.children())

        def pre(mod: Any, a: tuple, kw: dict, path: str = path, leaf: bool = leaf) -> None:
            calls[path] = calls.get(path, 0) + 1
            node_name = path if calls[path] == 1 else f"{path}#{calls[path]}"
            params = sum(p.numel() for p in mod.parameters(recurse=False)) if calls[path] == 1 else 0
            idx = graph.add(GraphNode(
                name=node_name, op=type(mod).__name__, scope=_scope_of(path), kind="module",
                params=params, attrs={"call": len(graph.nodes), "container": not leaf},
            ))
            open_calls.append(idx)
            if leaf:
                sources = {producers[id(t)] for t in _tensors((a, kw)) if id(t) in producers}
                if not sources and last_leaf:
                    sources = {last_leaf[-1]}  # fed by a functional op: follow call order
                for src in sorted(sources):
                    graph.connect(src, idx)

        def post(mod: Any, a: tuple, kw: dict, out: Any, leaf: bool = leaf) -> None:
            idx = open_calls.pop()
            graph.nodes[idx].shape, graph.nodes[idx].dtype = _shape_text(out)
            if leaf:
                keep.append(out)
                for t in _tensors(out):
                    producers[id(t)] = idx
                last_leaf.append(idx)

        handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(module.register_forward_hook(post, with_kwargs=True))
    try:
        with _EvalNoGrad(model):
            out = model(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
    outputs = _tensors(out)
    dst = graph.add(GraphNode(name="output", op="output", kind="output"))
    graph.nodes[dst].shape, graph.nodes[dst].dtype = _shape_text(outputs)
    sources = {producers[id(t)] for t in outputs if id(t) in producers}
    if not sources and last_leaf:
        sources = {last_leaf[-1]}
    for src in sorted(sources):
        graph.connect(src, dst)
    graph.meta["root"] = root
    keep.clear()
    return graph


def _module_tree(model: torch.nn.Module) -> Graph:
    """The module tree with parameter counts (no input to run, fx not usable): no edges."""
    graph = Graph(framework="torch", source="module_tree")
    for path, module in model.named_modules():
        if not path:
            continue
        graph.add(GraphNode(
            name=path, op=type(module).__name__, scope=_scope_of(path), kind="module",
            params=sum(p.numel() for p in module.parameters(recurse=False)),
        ))
    for pname, p in model.named_parameters(recurse=False):
        graph.add(GraphNode(name=pname, op="parameter", kind="param", params=p.numel(),
                            shape=str(list(p.shape))))
    return graph
