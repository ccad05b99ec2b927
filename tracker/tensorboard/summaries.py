"""Event payloads for the rare summaries (histograms, text, hparams, graphs), via TB's protos.

Only ``tensorboard.compat.proto`` classes and the TensorFlow-free ``summary_v2`` helpers are used
here; the v1 ``summary.pb()`` helpers would import TensorFlow.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2
from tensorboard.plugins.graph import metadata as graph_metadata
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.hparams import summary_v2 as hparams_v2
from tensorboard.plugins.text import summary_v2 as text_v2
from tensorboard.util import tensor_util

from ..records import Histogram

FILE_VERSION = "brain.Event:2"


def file_version(wall: float) -> bytes:
    """The first record of every event file."""
    return event_pb2.Event(wall_time=wall, file_version=FILE_VERSION).SerializeToString()


def _event(wall: float, step: int, summary: summary_pb2.Summary) -> bytes:
    return event_pb2.Event(wall_time=wall, step=step, summary=summary).SerializeToString()


def histogram_event(tag: str, step: int, wall: float, hist: Histogram) -> bytes:
    """A v2 histogram: a [k, 3] DT_DOUBLE tensor of (left edge, right edge, count)."""
    edges = np.asarray(hist.edges, dtype=np.float64)
    counts = np.asarray(hist.counts, dtype=np.float64)
    data = np.stack([edges[:-1], edges[1:], counts], axis=1) if len(counts) else np.zeros((0, 3))
    value = summary_pb2.Summary.Value(
        tag=tag,
        metadata=histogram_metadata.create_summary_metadata(display_name=tag, description=""),
        tensor=tensor_util.make_tensor_proto(data, dtype=np.float64),
    )
    return _event(wall, step, summary_pb2.Summary(value=[value]))


def text_event(tag: str, step: int, wall: float, text: str) -> bytes:
    """A v2 text summary (TensorBoard renders it as markdown)."""
    return _event(wall, step, text_v2.text_pb(tag, text))


def hparams_event(
    config: Mapping[str, Any], trial_id: str, started: float
) -> bytes | None:
    """The hparams plugin's session-start summary for a run's flattened config (None if empty)."""
    values = {name: v for name, v in (hparam_value(n, x) for n, x in config.items()) if v is not None}
    if not values:
        return None
    summary = hparams_v2.hparams_pb(values, trial_id=trial_id, start_time_secs=started)
    return _event(started, 0, summary)


def hparam_value(name: str, value: Any) -> tuple[str, bool | int | float | str | None]:
    """A config value as the hparams plugin takes it: bool, number or string (None is left out)."""
    if value is None:
        return name, None
    if isinstance(value, (bool, str)):
        return name, value
    if isinstance(value, int):
        return name, value if abs(value) < 2**53 else str(value)
    if isinstance(value, float):
        return name, value if math.isfinite(value) else str(value)
    return name, json.dumps(value, sort_keys=True, default=str)


def graph_event(graph_def: bytes, wall: float) -> bytes:
    """An Event holding a serialized GraphDef (the graphs plugin's op graph)."""
    return event_pb2.Event(wall_time=wall, graph_def=graph_def).SerializeToString()


def keras_model_event(model_json: str, wall: float) -> bytes:
    """The Keras 'conceptual graph': the model JSON under the ``graph_keras_model`` plugin."""
    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=graph_metadata.PLUGIN_NAME_KERAS_MODEL, content=b"1"
        )
    )
    tensor = tensor_pb2.TensorProto(dtype=7, string_val=[model_json.encode("utf-8")])  # DT_STRING
    value = summary_pb2.Summary.Value(tag="keras", metadata=meta, tensor=tensor)
    return _event(wall, 0, summary_pb2.Summary(value=[value]))
