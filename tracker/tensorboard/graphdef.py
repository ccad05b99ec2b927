"""The neutral ``tracker.Graph`` as a TensorBoard GraphDef (names scoped by '/', shapes as attrs)."""

from __future__ import annotations

import json
import re

from tensorboard.compat.proto import (
    attr_value_pb2,
    graph_pb2,
    node_def_pb2,
    tensor_shape_pb2,
    versions_pb2,
)

from ..graph import Graph, GraphNode

_DIMS = re.compile(r"\[([^\[\]]*)\]")


def to_graphdef(graph: Graph) -> bytes:
    """Serialize ``graph`` as a GraphDef; the original GraphDef when the graph keeps one."""
    if graph.raw_format == "graphdef" and isinstance(graph.raw, (bytes, bytearray)):
        return bytes(graph.raw)
    names = _node_names(graph)
    inputs: list[list[str]] = [[] for _ in graph.nodes]
    for src, dst in graph.edges:
        if 0 <= src < len(names) and 0 <= dst < len(names):
            inputs[dst].append(names[src])
    out = graph_pb2.GraphDef(versions=versions_pb2.VersionDef(producer=22))
    for node, name, node_inputs in zip(graph.nodes, names, inputs):
        attrs = {
            "kind": _str_attr(node.kind),
            "params": attr_value_pb2.AttrValue(i=int(node.params or 0)),
        }
        shapes = parse_shapes(node.shape)
        if shapes is not None:
            attrs["_output_shapes"] = attr_value_pb2.AttrValue(
                list=attr_value_pb2.AttrValue.ListValue(shape=shapes)
            )
        if node.dtype:
            attrs["dtype_name"] = _str_attr(node.dtype)
        for key, value in (node.attrs or {}).items():
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            attrs.setdefault(str(key), _str_attr(text[:4096]))
        out.node.append(
            node_def_pb2.NodeDef(name=name, op=node.op or node.kind, input=node_inputs, attr=attrs)
        )
    return out.SerializeToString()


def _str_attr(text: str) -> attr_value_pb2.AttrValue:
    return attr_value_pb2.AttrValue(s=text.encode("utf-8", "replace"))


def _node_names(graph: Graph) -> list[str]:
    """'<scope>/<name>' per node (TensorBoard groups by '/'), made unique."""
    seen: set[str] = set()
    names = []
    for node in graph.nodes:
        base = node.name.replace(":", "_") or "node"
        scope = node.scope.strip("/")
        if scope and not base.startswith(scope + "/"):
            base = f"{scope}/{base}"
        name, i = base, 1
        while name in seen:
            name, i = f"{base}_{i}", i + 1
        seen.add(name)
        names.append(name)
    return names


def parse_shapes(text: str | None) -> list[tensor_shape_pb2.TensorShapeProto] | None:
    """'[32, 10], [32]' -> shape protos; unknown dims (None, ?, -1, names) become -1."""
    if not text:
        return None
    shapes = []
    for match in _DIMS.finditer(text):
        dims = []
        for part in filter(None, (p.strip() for p in match.group(1).split(","))):
            try:
                size = int(part)
            except ValueError:
                size = -1
            dims.append(tensor_shape_pb2.TensorShapeProto.Dim(size=size))
        shapes.append(tensor_shape_pb2.TensorShapeProto(dim=dims))
    return shapes or None


_KINDS = {"Placeholder": "input", "Const": "constant", "VarHandleOp": "param",
          "VariableV2": "param", "ReadVariableOp": "param", "_Retval": "output"}


def from_graphdef(data: bytes, name: str = "model") -> Graph:
    """A GraphDef from an event file as a neutral Graph (the bytes kept as its raw form)."""
    graph_def = graph_pb2.GraphDef.FromString(data)
    index = {node.name: i for i, node in enumerate(graph_def.node)}
    nodes, edges = [], []
    for i, node in enumerate(graph_def.node):
        scope = node.name.rpartition("/")[0]
        shapes = node.attr["_output_shapes"].list.shape if "_output_shapes" in node.attr else []
        shape = ", ".join(
            "[" + ", ".join(str(d.size) for d in s.dim) + "]" for s in shapes
        ) or None
        dtype = None
        for key in ("T", "dtype"):
            if key in node.attr and node.attr[key].type:
                dtype = _DTYPES.get(node.attr[key].type, str(node.attr[key].type))
                break
        attrs = {"device": node.device} if node.device else {}
        op = node.op or node.attr["keras_class"].s.decode("utf-8", "replace")  # Keras: no op
        nodes.append(GraphNode(name=node.name, op=op, scope=scope,
                               kind=_KINDS.get(node.op, "op"), shape=shape, dtype=dtype,
                               attrs=attrs))
        for source in node.input:
            src = index.get(source.lstrip("^").split(":")[0])
            if src is not None:
                edges.append((src, i))
    return Graph(nodes=nodes, edges=edges, name=name, framework="tensorboard", source="graphdef",
                 raw=bytes(data), raw_format="graphdef")


_DTYPES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8",
           7: "string", 9: "int64", 10: "bool", 14: "bfloat16", 19: "float16"}
