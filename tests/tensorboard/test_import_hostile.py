"""Import of crafted event files: declared sizes the bytes do not back, odd values, deep logdirs."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2

import tracker
from tracker.tensorboard.importer import import_tensorboard
from tracker.tensorboard.records import frame

WALL0 = 1_700_000_000.0


def _tensor(dtype: int, shape: list[int], **values: object) -> tensor_pb2.TensorProto:
    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims),
                                  **values)


def _value(tag: str, plugin: str, tensor: tensor_pb2.TensorProto) -> summary_pb2.Summary.Value:
    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin))
    return summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor)


def _event(step: int, *values: summary_pb2.Summary.Value, wall: float | None = None) -> bytes:
    return frame(event_pb2.Event(wall_time=WALL0 + step if wall is None else wall, step=step,
                                 summary=summary_pb2.Summary(value=list(values))).SerializeToString())


def _loss(step: int) -> summary_pb2.Summary.Value:
    return summary_pb2.Summary.Value(tag="loss", simple_value=1.0 / (step + 1))


def test_a_tensor_declaring_more_values_than_it_holds_is_skipped_and_reported(
    db_path: Path, tmp_path: Path
) -> None:
    logdir = tmp_path / "logs" / "run"
    logdir.mkdir(parents=True)
    bomb = _event(1, _value("h", "histograms", _tensor(2, [2**23, 3], double_val=[1.0])))
    assert len(bomb) < 80  # the 73-byte file: one value declared as 25M
    records = [
        _event(0, _loss(0)),
        bomb,
        _event(2, _loss(2), _value("huge", "histograms", _tensor(2, [2**40, 3], double_val=[1.0]))),
        _event(3, _value("short", "histograms", _tensor(2, [4, 3], tensor_content=b"\0" * 16))),
        _event(4, _value("neg", "text", _tensor(7, [-1], string_val=[b"x"]))),
        _event(5, _value("t", "text", _tensor(7, [2], string_val=[b"a", b"b"])),
               _value("z", "histograms", _tensor(2, [2, 3], double_val=[0.0]))),  # a small fill
        _event(6, _loss(6)),
    ]
    (logdir / "events.out.tfevents.1.host").write_bytes(b"".join(records))

    summary = import_tensorboard(tmp_path / "logs", db=db_path)

    assert (summary.runs, summary.scalars, summary.texts, summary.histograms) == (1, 3, 1, 1)
    reasons = sorted(p.reason for p in summary.problems)
    assert len(reasons) == 4, reasons
    assert any("'h': tensor declares 25,165,824 values" in r for r in reasons)
    assert any("'huge': tensor declares" in r for r in reasons)
    assert any("'short': tensor declares 12 values but holds 2" in r for r in reasons)
    assert any("'neg': tensor shape [-1]" in r for r in reasons)
    offsets = sorted(p.offset for p in summary.problems)
    assert offsets[0] == len(records[0])  # where the bomb's record starts
    assert db_path.stat().st_size < 2 << 20  # nothing of the declared sizes reached the store
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        assert store.series(run.id, "loss").steps.tolist() == [0, 2, 6]
        assert [t.text for t in store.texts(run.id, "t")] == ["a\nb"]
        (zeros,) = store.histograms(run.id, "z")
        assert zeros.histogram.counts.tolist() == [0.0, 0.0]


def test_values_that_do_not_add_up_are_skipped_and_the_rest_imported(
    db_path: Path, tmp_path: Path
) -> None:
    logdir = tmp_path / "logs"
    logdir.mkdir()
    legacy = summary_pb2.HistogramProto(min=0, max=1, num=3, bucket_limit=[0.5, 1.0],
                                        bucket=[1, 1, 1])  # 3 buckets, 2 limits
    records = [
        _event(0, _loss(0)),
        _event(1, summary_pb2.Summary.Value(tag="legacy", histo=legacy)),
        _event(2, _value("odd", "histograms", _tensor(2, [2, 2], double_val=[1, 2, 3, 4]))),
        _event(3, _loss(3), wall=math.nan),
        _event(4, _value("s", "scalars", _tensor(3, [3], int_val=[7]))),  # fill, not scalar-shaped
        _event(4, _value("wide", "histograms", _tensor(2, [1, 3], double_val=[-1e300, 1e300, 2]))),
        frame(event_pb2.Event(wall_time=WALL0, graph_def=b"\xff\xff").SerializeToString()),
        _event(5, _loss(5)),
    ]
    (logdir / "events.out.tfevents.1.host").write_bytes(b"".join(records))

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # extreme values print no numpy noise
        summary = import_tensorboard(logdir, db=db_path)

    reasons = sorted(p.reason for p in summary.problems)
    assert len(reasons) == 4, reasons
    assert any("'legacy': histogram has 2 bucket limits for 3 buckets" in r for r in reasons)
    assert any("'odd': histogram tensor of shape [2, 2]" in r for r in reasons)
    assert any("no real wall time" in r for r in reasons)
    assert any("graph is not a GraphDef" in r for r in reasons)
    assert (summary.scalars, summary.histograms, summary.graphs) == (3, 1, 0)
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        assert store.series(run.id, "loss").steps.tolist() == [0, 5]
        assert store.series(run.id, "s").values.tolist() == [7.0]
        (wide,) = store.histograms(run.id, "wide")
        assert wide.histogram.edges.tolist() == [-1e300, 1e300]
        assert (run.started, run.ended) == (WALL0, WALL0 + 5)


def test_a_logdir_a_thousand_folders_deep_with_a_symlink_loop(db_path: Path, tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    logdir.mkdir()
    try:
        deep = logdir
        for _ in range(1000):  # one level at a time: pathlib's mkdir(parents=True) recurses
            deep = deep / "d"
            os.mkdir(deep)
        (deep / "events.out.tfevents.1.host").write_bytes(_event(0, _loss(0)))
        (logdir / "top").mkdir()
        (logdir / "top" / "events.out.tfevents.1.host").write_bytes(_event(0, _loss(0)))
        os.symlink("..", logdir / "top" / "loop")  # followed, it would never end

        summary = import_tensorboard(logdir, db=db_path)
    finally:
        _remove_chain(logdir / "d")

    assert summary.runs == 2 and summary.problems == []
    with tracker.open_store(db_path) as store:
        names = sorted(r.name for r in store.runs())
    assert names == ["/".join(["d"] * 1000), "top"]


def _remove_chain(top: Path) -> None:
    """Remove a chain of nested folders without recursion (pytest's clean-up of old temporary
    folders recurses, and a thousand levels would stop it for every later session)."""
    chain = []
    while top.is_dir() and not top.is_symlink():
        chain.append(top)
        for child in top.iterdir():
            if child.name != "d":
                child.unlink()
        top = top / "d"
    for folder in reversed(chain):
        folder.rmdir()
