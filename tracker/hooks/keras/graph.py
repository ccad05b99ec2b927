"""Keras model graphs: the layer graph (every backend) and the traced op graph (TensorFlow backend).

The layer graph comes from ``model.get_config()`` inbound nodes when TensorFlow is already loaded,
and otherwise from the layers' live inbound nodes: on the JAX and torch backends Keras 3's
``get_config()``/``to_json()`` import TensorFlow (about 2 s and 600 MB), which a hook must not
cause. Subclassed models, which have neither, still get their layer list.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from ...graph import Graph, GraphNode

# Layer attributes worth showing when no config is at hand (cheap getattr, no serialization).
_ATTRS = ("units", "filters", "kernel_size", "strides", "padding", "pool_size", "rate", "axis",
          "input_dim", "output_dim", "num_heads", "key_dim", "use_bias", "target_shape")


def layer_graph(model: Any, *, use_config: bool | None = None) -> Graph:
    """The layer graph of a Keras 3 model: one node per layer, edges from the inbound nodes.

    ``use_config`` None means: read ``get_config()`` (and keep ``to_json()`` as the raw form)
    only when TensorFlow is already imported, so this never imports it.
    """
    if use_config is None:
        use_config = "tensorflow" in sys.modules
    graph = Graph(name=str(getattr(model, "name", "model")), framework="keras")
    config = _model_config(model) if use_config else None
    layer_configs: dict[str, dict[str, Any]] = {}
    if config is not None:
        layer_configs = {c.get("name") or c.get("config", {}).get("name"): c
                         for c in config.get("layers", []) if isinstance(c, dict)}
    index: dict[str, int] = {}
    for layer in _all_layers(model):
        index[layer.name] = graph.add(_layer_node(layer, layer_configs.get(layer.name)))
    if config is not None and "layers" in config:
        pairs, graph.source = edges_from_config(config), "keras_config"
    else:
        pairs, graph.source = list(_live_edges(model, index)), "keras_layers"
    if not pairs and _is_sequential(model):
        names = list(index)  # a Sequential config has no inbound nodes: it is a chain
        pairs = list(zip(names, names[1:]))
    if not pairs and len(index) > 1 and graph.source == "keras_layers":
        graph.source = "keras_layer_list"  # a subclassed model: layers without connections
    seen: set[tuple[int, int]] = set()
    for src, dst in pairs:
        if src in index and dst in index and (index[src], index[dst]) not in seen:
            seen.add((index[src], index[dst]))
            graph.connect(index[src], index[dst])
    if use_config:
        graph.raw = _to_json(model)
        graph.raw_format = "keras_json" if graph.raw is not None else None
    graph.meta = {"class": type(model).__name__, "backend": _backend()}
    return graph


def edges_from_config(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(source layer, layer) name pairs from a functional config's ``inbound_nodes``.

    Accepts the live config (tuples), its JSON form (lists) and the Keras 2 list format
    (``[[name, node_index, tensor_index, kwargs], ...]``).
    """
    pairs: list[tuple[str, str]] = []
    for layer in config.get("layers", []):
        if not isinstance(layer, dict):
            continue
        name = layer.get("name") or layer.get("config", {}).get("name")
        for node in layer.get("inbound_nodes", []) or []:
            for src in _history_names(node):
                pairs.append((src, name))
    return pairs


def _history_names(node: Any) -> Iterator[str]:
    """Names of the layers whose outputs feed one inbound node, wherever they sit in it."""
    if isinstance(node, dict):
        if node.get("class_name") == "__keras_tensor__":
            history = node.get("config", {}).get("keras_history")
            if isinstance(history, (list, tuple)) and history and isinstance(history[0], str):
                yield history[0]
            return
        for value in node.values():
            yield from _history_names(value)
    elif isinstance(node, (list, tuple)):
        if len(node) >= 3 and isinstance(node[0], str) and isinstance(node[1], int):
            yield node[0]  # Keras 2: [layer_name, node_index, tensor_index, kwargs]
            return
        for item in node:
            yield from _history_names(item)


def _model_config(model: Any) -> dict[str, Any] | None:
    try:
        config = model.get_config()
    except Exception:  # subclassed models without get_config() raise NotImplementedError
        return None
    return config if isinstance(config, dict) else None


def _to_json(model: Any) -> str | None:
    try:
        return str(model.to_json())
    except Exception:
        return None


def _all_layers(model: Any) -> list[Any]:
    """The model's layers with the input layers first (``Sequential.layers`` leaves them out)."""
    layers = list(getattr(model, "layers", []) or [])
    names = {layer.name for layer in layers}
    inputs = []
    for layer in layers:
        for history in _live_histories(layer):
            op = history.operation
            if type(op).__name__ == "InputLayer" and op.name not in names:
                names.add(op.name)
                inputs.append(op)
    return inputs + layers


def _live_histories(layer: Any) -> Iterator[Any]:
    for node in getattr(layer, "_inbound_nodes", []) or []:
        arguments = getattr(node, "arguments", None)
        for tensor in getattr(arguments, "keras_tensors", []) or []:
            history = getattr(tensor, "_keras_history", None)
            if history is not None:
                yield history


def _live_edges(model: Any, index: dict[str, int]) -> Iterator[tuple[str, str]]:
    # A layer shared with another model has inbound nodes there too: keep ours only.
    for layer in _all_layers(model):
        for history in _live_histories(layer):
            src = history.operation.name
            if src in index:
                yield src, layer.name


def _is_sequential(model: Any) -> bool:
    return any(cls.__name__ == "Sequential" for cls in type(model).__mro__)


def _layer_node(layer: Any, config: dict[str, Any] | None) -> GraphNode:
    cls = type(layer).__name__
    attrs: dict[str, Any] = {"trainable": bool(getattr(layer, "trainable", True))}
    if config is not None:
        attrs.update(_simple(config.get("config", {})))
    else:
        for name in _ATTRS:
            value = getattr(layer, name, None)
            if value is not None and _is_simple(value):
                attrs[name] = list(value) if isinstance(value, tuple) else value
        activation = getattr(layer, "activation", None)
        if callable(activation):
            attrs["activation"] = getattr(activation, "__name__", str(activation))
    attrs.pop("name", None)
    sublayers = getattr(layer, "layers", None)
    if sublayers:
        attrs["layers"] = [sub.name for sub in sublayers]
    return GraphNode(
        name=layer.name,
        op=cls,
        scope="",
        kind="input" if cls == "InputLayer" else "module",
        shape=_output_shape(layer),
        dtype=_output_dtype(layer),
        params=_count_params(layer),
        attrs=attrs,
    )


def _simple(config: dict[str, Any]) -> dict[str, Any]:
    """The scalar settings of a layer config (units, activation...), without nested objects."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key == "dtype" and isinstance(value, dict):
            value = value.get("config", {}).get("name")
        if value is not None and _is_simple(value):
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


def _is_simple(value: Any) -> bool:
    if isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, (list, tuple)) and all(
        v is None or isinstance(v, (bool, int, float, str)) for v in value
    )


def _output_shape(layer: Any) -> str | None:
    try:
        output = layer.output  # raises for layers never called, or called more than once
    except Exception:
        return None
    outputs = output if isinstance(output, (list, tuple)) else [output]
    shapes = []
    for tensor in outputs:
        shape = getattr(tensor, "shape", None)
        if shape is None:
            return None
        shapes.append("[" + ", ".join("None" if d is None else str(d) for d in shape) + "]")
    return ", ".join(shapes)


def _output_dtype(layer: Any) -> str | None:
    try:
        output = layer.output
    except Exception:
        return getattr(layer, "compute_dtype", None)
    first = output[0] if isinstance(output, (list, tuple)) and output else output
    dtype = getattr(first, "dtype", None)
    return str(dtype) if dtype is not None else None


def _count_params(layer: Any) -> int:
    # A nested model is one node here (its layers are named in attrs), so it owns all of them.
    try:
        return int(layer.count_params())
    except Exception:  # not built yet
        return 0


def _backend() -> str:
    keras = sys.modules.get("keras")
    try:
        return str(keras.backend.backend()) if keras is not None else ""
    except Exception:
        return ""


def op_graph(model: Any, input_signature: Any = None) -> Graph:
    """The op graph of ``model(x, training=False)`` traced by ``tf.function`` (TensorFlow backend).

    ``input_signature`` defaults to ``model.inputs`` with a free batch dimension.

    Raises:
        ValueError: the model has no known inputs and no signature was given.
    """
    import tensorflow as tf  # the TensorFlow backend is running, so this is already loaded

    if input_signature is None:
        inputs = getattr(model, "inputs", None)
        if not inputs:
            raise ValueError(
                "op graph: the model has no known inputs; pass op_graph_signature=tf.TensorSpec(...)"
            )
        input_signature = [tf.TensorSpec([None, *t.shape[1:]], t.dtype) for t in inputs]
        if len(input_signature) == 1:
            input_signature = input_signature[0]
    fn = tf.function(lambda x: model(x, training=False))
    graph_def = fn.get_concrete_function(input_signature).graph.as_graph_def()
    return graph_from_graphdef(graph_def, name=str(getattr(model, "name", "model")))


def graph_from_graphdef(graph_def: Any, *, name: str = "model") -> Graph:
    """A neutral graph from a TensorFlow ``GraphDef``, keeping its bytes as the raw form."""
    graph = Graph(name=name, framework="tensorflow", source="tf_function",
                  raw=graph_def.SerializeToString(), raw_format="graphdef")
    index: dict[str, int] = {}
    for node in graph_def.node:
        scope, _, _ = node.name.rpartition("/")
        dtype = next((node.attr[a].type for a in ("dtype", "T") if a in node.attr), None)
        index[node.name] = graph.add(GraphNode(
            name=node.name,
            op=node.op,
            scope=scope,
            kind=_tf_kind(node),
            dtype=_tf_dtype_name(dtype),
            attrs={"device": node.device} if node.device else {},
        ))
    for node in graph_def.node:
        for src in node.input:
            src_name = src.lstrip("^").split(":")[0]  # '^ctrl' and 'op:1' name the same node
            if src_name in index:
                graph.connect(index[src_name], index[node.name])
    return graph


def _tf_kind(node: Any) -> str:
    if node.op == "Placeholder":
        return "param" if node.name.endswith("/resource") else "input"
    if node.op == "Const":
        return "constant"
    return "op"


def _tf_dtype_name(dtype: int | None) -> str | None:
    if not dtype:
        return None
    tf = sys.modules.get("tensorflow")
    try:
        return str(tf.dtypes.as_dtype(dtype).name) if tf is not None else str(dtype)
    except Exception:
        return str(dtype)
