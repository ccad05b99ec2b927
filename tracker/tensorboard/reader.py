"""The own fast event reader: a TensorBoard logdir's runs, decoded into plain Python data.

No TensorFlow and no EventAccumulator: records come from ``records.read_records`` and each Event is
parsed once with the protobuf class, except the bulk of scalar-only events, which
``fastscalars`` decodes without protobuf once their layout is known. Every value is sorted into
scalars, histograms, texts, hparams and graphs, and images when asked (``images=True``; checked
and decoded by ``images``). Unsupported summaries (audio...) are counted, not kept.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tensorboard.compat.proto import event_pb2, graph_pb2
from tensorboard.plugins.hparams import plugin_data_pb2

from ..images import EncodedImage
from ..records import Histogram
from .fastscalars import FastScalars
from .images import caption_tags, is_image, read_image, with_caption
from .records import RecordProblem, read_records
from .tensors import to_ndarray

_DT_FLOAT, _DT_DOUBLE, _DT_HALF = 1, 2, 19
_F = struct.Struct("<f")
_D = struct.Struct("<d")


# tag -> (seqs, steps, values, walls) of scalars decoded one event at a time
SlowScalars = dict[str, tuple[list[int], list[int], list[float], list[float]]]


@dataclass
class RunData:
    """Everything read from one TensorBoard run directory."""

    scalars: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    histograms: dict[str, list[tuple[int, float, Histogram]]] = field(default_factory=dict)
    texts: dict[str, list[tuple[int, float, str]]] = field(default_factory=dict)
    hparams: dict[str, Any] = field(default_factory=dict)
    graphs: list[tuple[float, bytes, str]] = field(default_factory=list)  # wall, GraphDef, name
    keras_models: list[tuple[float, str]] = field(default_factory=list)  # (wall, model JSON)
    images: dict[str, list[tuple[int, float, EncodedImage]]] = field(default_factory=dict)
    read_images: bool = False  # False: images are counted in ``skipped``, not decoded
    skipped: dict[str, int] = field(default_factory=dict)  # plugin or kind -> values left out
    offsets: dict[str, int] = field(default_factory=dict)  # file name -> bytes read
    plugins: dict[str, str] = field(default_factory=dict)  # tag -> plugin (met once per tag)
    first_wall: float | None = None
    last_wall: float | None = None

    @property
    def empty(self) -> bool:
        """True when nothing importable was read."""
        return not (self.has_values or self.graphs or self.keras_models)

    @property
    def has_values(self) -> bool:
        """True when something besides graphs was read (scalars, histograms, texts, hparams)."""
        return bool(self.scalars or self.histograms or self.texts or self.hparams or self.images)

    def adopt(self, child: RunData, name: str) -> None:
        """Take in what a sub-folder holding only graphs read (its graphs named after it)."""
        self.graphs += [(wall, graph, own or name) for wall, graph, own in child.graphs]
        self.keras_models += child.keras_models
        self.offsets.update(child.offsets)
        for kind, count in child.skipped.items():
            self.skipped[kind] = self.skipped.get(kind, 0) + count
        for wall in (child.first_wall, child.last_wall):
            if wall is not None:
                _seen(self, wall)


def find_runs(logdir: Path, problems: list[RecordProblem] | None = None) -> dict[str, list[Path]]:
    """Run directories (relative, '.' for the root) -> their event files in name order.

    Walked with an explicit stack, not recursion (a logdir nested a thousand folders deep is only
    data), and symbolic links to folders are not followed (no loops, no run read twice).
    Folders that cannot be listed are reported in ``problems`` and left out.
    """
    runs: dict[str, list[Path]] = {}
    stack = [logdir]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                listed = list(entries)
        except OSError as exc:
            if problems is not None:
                problems.append(RecordProblem(str(folder), 0, f"cannot list folder: {exc.strerror}"))
            continue
        subfolders, events = [], []
        for entry in listed:
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(entry.name)
                elif _is_event_file(entry.name) and entry.is_file():
                    events.append(entry.name)
            except OSError:  # vanished or unreadable while listing: not a run of ours
                continue
        if events:
            runs[folder.relative_to(logdir).as_posix()] = [folder / f for f in sorted(events)]
        stack.extend(folder / d for d in sorted(subfolders, reverse=True))  # visited in name order
    return runs


def _is_event_file(name: str) -> bool:
    return "tfevents" in name and not name.endswith(".tmp")


def read_run(
    files: list[Path],
    offsets: dict[str, int],
    problems: list[RecordProblem],
    plugins: dict[str, str] | None = None,
    names: list[str] | None = None,
    images: bool = False,
) -> RunData:
    """Read the events of one run's files, each from the offset an earlier import stopped at.

    ``plugins`` (tag -> plugin name) carries over what an earlier import learnt: a v2 summary
    names its plugin only on a tag's first value. ``names`` are the keys of the files in
    ``offsets`` (default: the file names). A value that cannot be read (a tensor whose declared
    size its bytes do not back, a histogram whose buckets do not add up) is reported in
    ``problems`` and skipped; the rest of its record is read. ``images`` decodes image
    summaries into ``RunData.images`` (otherwise they are counted as skipped).
    """
    data = RunData(offsets=dict(offsets), plugins=dict(plugins or {}), read_images=images)
    plugins = data.plugins
    slow: SlowScalars = {}
    fast = FastScalars()
    seq = 0  # event number across the run's files: merges both paths back into file order
    for path, name in zip(files, names or [p.name for p in files]):
        start = offsets.get(name, 0)
        try:
            size = path.stat().st_size
        except OSError as exc:
            problems.append(RecordProblem(str(path), 0, f"cannot read: {exc}"))
            continue
        if size <= start:
            continue
        for payload, end in read_records(path, start, problems):
            seq += 1
            data.offsets[name] = end
            if fast.take(payload, seq):
                continue
            where = (str(path), end - len(payload) - 16)  # the record's first byte
            try:
                event = event_pb2.Event.FromString(payload)
            except Exception:  # protobuf's DecodeError: a record that is not an Event
                problems.append(RecordProblem(*where, "record is not an Event: skipped"))
                continue
            if _event(event, seq, data, slow, where, problems):
                fast.learn(payload, event, plugins)
    _merge_scalars(data, slow, fast, problems, files)
    return data


def _merge_scalars(
    data: RunData,
    slow: SlowScalars,
    fast: FastScalars,
    problems: list[RecordProblem],
    files: list[Path],
) -> None:
    """Both paths' points of each tag as arrays in file order; widen the run's time span.

    Points whose wall time is not a finite number are left out (a store keeps real times only).
    """
    blocks = fast.columns()
    for tag, (seq_list, step_list, value_list, wall_list) in slow.items():
        blocks.setdefault(tag, []).insert(0, (
            np.asarray(seq_list, dtype=np.int64), np.asarray(step_list, dtype=np.int64),
            np.asarray(value_list, dtype=np.float64), np.asarray(wall_list, dtype=np.float64)))
    for tag, parts in blocks.items():
        if len(parts) == 1:
            _, steps, values, walls = parts[0]
        else:
            order = np.argsort(np.concatenate([p[0] for p in parts]), kind="stable")
            steps, values, walls = (np.concatenate([p[i] for p in parts])[order] for i in (1, 2, 3))
        finite = np.isfinite(walls)
        if not finite.all():
            bad = int(len(walls) - finite.sum())
            problems.append(RecordProblem(str(files[0].parent), 0, f"{bad} point(s) of scalar"
                                          f" {tag!r} have no real wall time: skipped"))
            steps, values, walls = steps[finite], values[finite], walls[finite]
        if not len(walls):
            continue
        data.scalars[tag] = (steps, values, walls)
        _seen(data, float(walls.min()))
        _seen(data, float(walls.max()))


def _event(
    event: Any,
    seq: int,
    data: RunData,
    slow: SlowScalars,
    where: tuple[str, int],
    problems: list[RecordProblem],
) -> bool:
    """Sort one parsed Event's values into ``data``; False when a part of it was skipped."""
    wall = event.wall_time
    if event.HasField("summary") or event.HasField("graph_def"):
        if not math.isfinite(wall):
            problems.append(RecordProblem(*where, "event has no real wall time: skipped"))
            return False
    if event.HasField("summary"):
        _seen(data, wall)
        whole = True
        values = event.summary.value
        captions = _captions(values, data) if data.read_images and len(values) > 1 else {}
        caption_names = {caption.tag for caption in captions.values()}
        for value in values:
            if value.tag in caption_names:
                continue  # an image's caption, read with the image
            try:
                _value(value, seq, event.step, wall, data, slow, captions.get(value.tag))
            except (ValueError, TypeError, OverflowError) as exc:  # DamagedTensor included
                problems.append(RecordProblem(*where, f"value {value.tag[:80]!r}: {exc}: skipped"))
                whole = False
        return whole
    if event.HasField("graph_def"):
        try:
            graph_pb2.GraphDef.FromString(event.graph_def)
        except Exception:  # protobuf's DecodeError
            problems.append(RecordProblem(*where, "graph is not a GraphDef: skipped"))
            return False
        _seen(data, wall)
        data.graphs.append((wall, event.graph_def, ""))
    return True


def _seen(data: RunData, wall: float) -> None:
    """Widen the run's time span (file_version and other bookkeeping events do not count)."""
    if data.first_wall is None or wall < data.first_wall:
        data.first_wall = wall
    if data.last_wall is None or wall > data.last_wall:
        data.last_wall = wall


def _captions(values: Any, data: RunData) -> dict[str, Any]:
    """Image tag -> the text value of its caption, written beside it in the same Event."""
    by_tag = {value.tag: value for value in values}
    return {image: by_tag[text] for image, text in caption_tags(values, data.plugins).items()}


def _value(
    value: Any, seq: int, step: int, wall: float, data: RunData, slow: SlowScalars,
    caption: Any = None,
) -> None:
    which = value.WhichOneof("value")
    tag = value.tag
    plugins = data.plugins
    if which != "simple_value" and value.HasField("metadata"):
        if value.metadata.plugin_data.plugin_name:
            plugins.setdefault(tag, value.metadata.plugin_data.plugin_name)
    plugin = plugins.get(tag, "")
    if which == "simple_value" or (which == "tensor" and plugin == "scalars"):
        number = value.simple_value if which == "simple_value" else _scalar(value.tensor)
        series = slow.get(tag)
        if series is None:
            series = slow[tag] = ([], [], [], [])
        series[0].append(seq)
        series[1].append(step)
        series[2].append(number)
        series[3].append(wall)
    else:
        _other(value, which, plugin, step, wall, data, caption)


def _other(value: Any, which: str, plugin: str, step: int, wall: float, data: RunData,
           caption: Any = None) -> None:
    tag = value.tag
    if data.read_images and is_image(value, which, plugin):
        image = read_image(value, which)
        if image is not None:
            if caption is not None:
                image = with_caption(image, _text(caption.tensor))
            data.images.setdefault(tag, []).append((step, wall, image))
    elif which == "histo":
        data.histograms.setdefault(tag, []).append((step, wall, _legacy_histogram(value.histo)))
    elif which == "tensor" and plugin == "histograms":
        data.histograms.setdefault(tag, []).append((step, wall, _tensor_histogram(value.tensor)))
    elif which == "tensor" and plugin == "text":
        data.texts.setdefault(tag, []).append((step, wall, _text(value.tensor)))
    elif plugin == "hparams":
        _hparams(value.metadata.plugin_data.content, data)
    elif which == "tensor" and plugin == "graph_keras_model":
        data.keras_models.append((wall, _text(value.tensor)))
    else:
        kind = plugin or which or "empty"
        data.skipped[kind] = data.skipped.get(kind, 0) + 1


def _scalar(tensor: Any) -> float:
    dtype = tensor.dtype
    if dtype == _DT_FLOAT:
        if tensor.float_val:
            return tensor.float_val[0]
        if len(tensor.tensor_content) == 4:
            return _F.unpack(tensor.tensor_content)[0]
    elif dtype == _DT_DOUBLE:
        if tensor.double_val:
            return tensor.double_val[0]
        if len(tensor.tensor_content) == 8:
            return _D.unpack(tensor.tensor_content)[0]
    array = to_ndarray(tensor)
    return float(array.reshape(-1)[0].real) if array.size else float("nan")


def _legacy_histogram(histo: Any) -> Histogram:
    """HistogramProto -> Histogram; edges as TensorBoard draws them: [min, limits..., max]."""
    limits = list(histo.bucket_limit)
    counts = np.asarray(histo.bucket, dtype=np.float64)
    if not limits:
        return Histogram(np.array([histo.min, histo.max]), np.array([histo.num]), histo.min,
                         histo.max, histo.sum, histo.sum_squares, histo.num)
    if len(limits) != len(counts):
        raise ValueError(f"histogram has {len(limits)} bucket limits for {len(counts)} buckets")
    edges = np.array([histo.min, *limits[:-1], histo.max], dtype=np.float64)
    return Histogram(edges, counts, histo.min, histo.max, histo.sum, histo.sum_squares, histo.num)


def _tensor_histogram(tensor: Any) -> Histogram:
    """A v2 [k, 3] (left, right, count) tensor -> Histogram (moments estimated from buckets)."""
    array = np.asarray(to_ndarray(tensor), dtype=np.float64)
    if array.size % 3:
        raise ValueError(f"histogram tensor of shape {list(array.shape)} is not [k, 3]")
    array = array.reshape(-1, 3)
    if len(array) == 0:
        return Histogram.empty()
    edges = np.append(array[:, 0], array[-1, 1])
    counts = array[:, 2]
    with np.errstate(over="ignore", invalid="ignore"):  # extreme edges: inf/NaN moments, no noise
        centers = (array[:, 0] + array[:, 1]) / 2
        moments = float(centers @ counts), float((centers**2) @ counts)
    return Histogram(edges, counts, float(edges[0]), float(edges[-1]), *moments,
                     float(counts.sum()))


def _text(tensor: Any) -> str:
    array = to_ndarray(tensor)
    items = [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)
             for x in np.asarray(array, dtype=object).reshape(-1)]
    return "\n".join(items)


def _hparams(content: bytes, data: RunData) -> None:
    try:
        plugin_data = plugin_data_pb2.HParamsPluginData.FromString(content)
    except Exception:  # a malformed hparams payload loses the hparams, not the import
        data.skipped["hparams"] = data.skipped.get("hparams", 0) + 1
        return
    if not plugin_data.HasField("session_start_info"):
        return  # the experiment config and session end carry no values for a run
    for name, value in plugin_data.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        if kind == "number_value":
            data.hparams[name] = value.number_value
        elif kind == "string_value":
            data.hparams[name] = value.string_value
        elif kind == "bool_value":
            data.hparams[name] = value.bool_value
