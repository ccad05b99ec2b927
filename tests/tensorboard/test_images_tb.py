"""Image summaries: written for TensorBoard's Images tab, read back from every writer, hostile ones refused."""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import subprocess
import sys
import time
import urllib.parse
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2

from tracker import images
from tracker.images import EncodedImage, encode, prepare
from tracker.tensorboard.images import image_event, read_images
from tracker.tensorboard.reader import find_runs, read_run
from tracker.tensorboard.records import RecordProblem, frame
from tracker.tensorboard.summaries import file_version

WALL0 = 1_700_000_000.0
RNG = np.random.default_rng(3)

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0", OMP_NUM_THREADS="1")


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _write(folder: Path, payloads: list[bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "events.out.tfevents.1.host"
    path.write_bytes(frame(file_version(WALL0)) + b"".join(frame(p) for p in payloads))
    return path


def _images_of(folder: Path, problems: list[RecordProblem] | None = None) -> dict[str, list[tuple[int, float, EncodedImage]]]:
    out: dict[str, list[tuple[int, float, EncodedImage]]] = {}
    for tag, step, wall, image in read_images(sorted(folder.glob("*tfevents*")), problems):
        out.setdefault(tag, []).append((step, wall, image))
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A logdir with one run: a PNG at steps 0-2 (captioned), a JPEG and a grid, as export writes."""
    root = tmp_path_factory.mktemp("export") / "logs"
    frames = [RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8) for _ in range(3)]
    photo = encode(prepare("photo", (np.linspace(0, 1, 64)[None, :] * np.ones((48, 1)))))
    jpeg_bytes = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (16, 20, 3), dtype=np.uint8)).save(jpeg_bytes, "JPEG")
    jpeg = images.verify(jpeg_bytes.getvalue(), "jpeg")
    grid = encode(prepare("grid", RNG.integers(0, 256, (3, 5, 5, 4), dtype=np.uint8)))
    payloads = [image_event("samples", i, WALL0 + i, encode(prepare("s", f, caption=f"epoch {i}")))
                for i, f in enumerate(frames)]
    payloads += [image_event("photo", 7, WALL0 + 7, photo), image_event("jpeg", 8, WALL0 + 8, jpeg),
                 image_event("grid", 9, WALL0 + 9, grid)]
    _write(root / "run", payloads)
    expected = {"frames": frames, "photo": photo, "jpeg": jpeg, "grid": grid}
    return root, expected


# --- export: TensorBoard's own reader and server --------------------------------------------

_DUMP = r'''
import base64, json, os, sys, types
sys.modules["tensorboard.compat.notf"] = types.ModuleType("tensorboard.compat.notf")
from tensorboard.backend.event_processing import event_accumulator as ea
acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.TENSORS: 0, ea.IMAGES: 0})
acc.Reload()
out = {}
for tag in acc.Tags()["tensors"]:
    plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
    out[tag] = [plugin, [[e.step, e.wall_time, e.tensor_proto.dtype,
                          [d.size for d in e.tensor_proto.tensor_shape.dim],
                          [base64.b64encode(s).decode() for s in e.tensor_proto.string_val]]
                         for e in acc.Tensors(tag)]]
assert "tensorflow" not in sys.modules, "TensorFlow was imported"
print(json.dumps(out))
'''


def test_event_accumulator_reads_exported_images_as_the_images_plugin(exported: tuple[Path, dict[str, Any]]) -> None:
    root, expected = exported
    proc = subprocess.run([sys.executable, "-c", _DUMP, str(root / "run")], capture_output=True,
                          text=True, timeout=300, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    tags = json.loads(proc.stdout)
    assert {t: p for t, (p, _) in tags.items()} == {
        "samples": "images", "samples/caption": "text", "photo": "images", "jpeg": "images",
        "grid": "images"}
    plugin, events = tags["samples"]
    assert [(step, wall) for step, wall, *_ in events] == [(i, WALL0 + i) for i in range(3)]
    for i, (_, _, dtype, shape, strings) in enumerate(events):
        width, height, png = (base64.b64decode(s) for s in strings)
        assert (dtype, shape, width, height) == (7, [3], b"10", b"12")  # DT_STRING [w, h, png]
        assert np.array_equal(_pixels(png), expected["frames"][i])
    captions = [base64.b64decode(s[0]) for *_, s in tags["samples/caption"][1]]
    assert captions == [b"epoch 0", b"epoch 1", b"epoch 2"]
    jpeg = base64.b64decode(tags["jpeg"][1][0][4][2])
    assert jpeg == expected["jpeg"].data





@pytest.mark.slow
def _served_frames_are(tb: Any, run: str, frames: list[np.ndarray]) -> None:
    """The server lists the "samples" tag's images at steps 0-2 with exactly these pixels."""
    query = urllib.parse.urlencode({"run": run, "tag": "samples", "sample": 0})
    entries = tb.poll(lambda: tb.get_json(f"/data/plugin/images/images?{query}"),
                      lambda e: len(e) == 3)
    assert [e["step"] for e in entries] == [0, 1, 2]
    for entry, pixels in zip(entries, frames):
        png = tb.get(f"/data/plugin/images/individualImage?{entry['query']}")
        assert np.array_equal(_pixels(png), pixels)


def test_a_tensorboard_server_serves_the_exported_images(exported: tuple[Path, dict[str, Any]], tmp_path: Path,
                                                       tensorboard_server) -> None:
    root, expected = exported
    with tensorboard_server(root, tmp_path / "tensorboard.log") as tb:
        tags = tb.poll(lambda: tb.get_json("/data/plugin/images/tags"),
                     lambda t: len(t.get("run", {})) == 4)
        assert sorted(tags["run"]) == ["grid", "jpeg", "photo", "samples"]
        assert tags["run"]["samples"]["samples"] == 1
        _served_frames_are(tb, "run", expected["frames"])
        for tag in ("jpeg", "grid", "photo"):
            query = urllib.parse.urlencode({"run": "run", "tag": tag, "sample": 0})
            (entry,) = tb.get_json(f"/data/plugin/images/images?{query}")
            served = tb.get(f"/data/plugin/images/individualImage?{entry['query']}")
            assert served == expected[tag].data
        text_query = urllib.parse.urlencode({"run": "run", "tag": "samples/caption"})
        texts = tb.get_json(f"/data/plugin/text/text?{text_query}")
        assert [t["step"] for t in texts] == [0, 1, 2] and "epoch 1" in texts[1]["text"]


# --- round trip -----------------------------------------------------------------------------


def test_export_then_read_gives_the_same_images_and_captions(exported: tuple[Path, dict[str, Any]]) -> None:
    root, expected = exported
    got = _images_of(root / "run")
    assert [(s, w, i.caption) for s, w, i in got["samples"]] == [
        (i, WALL0 + i, f"epoch {i}") for i in range(3)]
    for (_, _, image), frame_ in zip(got["samples"], expected["frames"]):
        assert (image.format, image.width, image.height) == ("png", 10, 12)
        assert np.array_equal(_pixels(image.data), frame_)  # pixel-exact
    for tag in ("photo", "jpeg", "grid"):
        ((_, _, image),) = got[tag]
        assert image == expected[tag]  # the same bytes, format and size; no caption
    data = read_run(sorted((root / "run").glob("*tfevents*")), {}, [], images=True)
    assert data.texts == {}  # the captions went with their images


def test_without_images_true_the_reader_counts_images_as_before(exported: tuple[Path, dict[str, Any]]) -> None:
    root, _ = exported
    data = read_run(sorted((root / "run").glob("*tfevents*")), {}, [])
    assert data.images == {} and data.skipped == {"images": 6}
    assert list(data.texts) == ["samples/caption"]


# --- import: logdirs of the real writers ----------------------------------------------------

_TORCH = r"""
import sys, numpy as np, torch
torch.set_num_threads(1)
from torch.utils.tensorboard import SummaryWriter
arrays = np.load(sys.argv[2])
w = SummaryWriter(sys.argv[1])
w.add_image("chw", torch.from_numpy(arrays["chw"]), 3)
w.add_image("hwc_float", torch.from_numpy(arrays["hwc_float"]), 4, dataformats="HWC")
w.add_images("batch", torch.from_numpy(arrays["nchw"]), 5)
w.add_scalar("loss", 0.5, 5)
w.close()
"""

_TBX = r"""
import sys, numpy as np
from tensorboardX import SummaryWriter
arrays = np.load(sys.argv[2])
w = SummaryWriter(sys.argv[1])
w.add_image("chw", arrays["chw"], 2)
w.add_image("rgba", arrays["rgba"], 6, dataformats="HWC")
w.close()
"""

_TF = r"""
import sys, numpy as np
import tensorflow as tf
arrays = np.load(sys.argv[2])
w = tf.summary.create_file_writer(sys.argv[1])
with w.as_default():
    tf.summary.image("one", arrays["nhwc"][:1], step=1)
    tf.summary.image("two", arrays["nhwc"], step=2, max_outputs=2)
    tf.summary.image("grey", arrays["grey"], step=3)
w.close()
"""


@pytest.fixture(scope="module")
def peer_logdir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp("peers")
    rng = np.random.default_rng(11)
    arrays = {
        "chw": rng.integers(0, 256, (3, 6, 7), dtype=np.uint8),
        "hwc_float": rng.integers(0, 256, (5, 4, 3)).astype(np.float32) / 255,
        "nchw": rng.integers(0, 256, (4, 3, 5, 6), dtype=np.uint8),
        "rgba": rng.integers(0, 256, (8, 9, 4), dtype=np.uint8),
        "nhwc": rng.integers(0, 256, (2, 6, 5, 3), dtype=np.uint8),
        "grey": rng.integers(0, 256, (1, 7, 4, 1), dtype=np.uint8),
    }
    npz = root / "arrays.npz"
    np.savez(npz, **arrays)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(root / "logs" / sub), str(npz)],
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for code, sub in ((_TORCH, "torch"), (_TBX, "tbx"), (_TF, "tf"))]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]
    return root / "logs", arrays


@pytest.mark.slow
def test_torch_summary_writer_images_import(peer_logdir: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, arrays = peer_logdir
    problems: list[RecordProblem] = []
    got = _images_of(root / "torch", problems)
    assert problems == []
    ((step, wall, chw),) = got["chw"]
    assert step == 3 and abs(wall - time.time()) < 3600
    assert np.array_equal(_pixels(chw.data), arrays["chw"].transpose(1, 2, 0))
    ((step, _, hwc),) = got["hwc_float"]
    # torch scales floats by 255 and truncates: the same bytes back
    assert step == 4 and np.array_equal(_pixels(hwc.data), (arrays["hwc_float"] * 255).astype(np.uint8))
    ((step, _, batch),) = got["batch"]
    # add_images tiles the batch itself (up to 8 a row, no gap): one image of 4x1
    assert (step, batch.width, batch.height) == (5, 24, 5)
    for i in range(4):
        assert np.array_equal(_pixels(batch.data)[:, 6 * i : 6 * i + 6], arrays["nchw"][i].transpose(1, 2, 0))


@pytest.mark.slow
def test_tensorboardx_images_import(peer_logdir: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, arrays = peer_logdir
    got = _images_of(root / "tbx")
    ((step, _, chw),) = got["chw"]
    assert step == 2 and np.array_equal(_pixels(chw.data), arrays["chw"].transpose(1, 2, 0))
    ((step, _, rgba),) = got["rgba"]
    assert step == 6 and np.array_equal(_pixels(rgba.data), arrays["rgba"])


@pytest.mark.slow
def test_tf_summary_images_import_and_a_batch_becomes_one_grid(peer_logdir: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, arrays = peer_logdir
    problems: list[RecordProblem] = []
    got = _images_of(root / "tf", problems)
    assert problems == []
    ((step, _, one),) = got["one"]
    assert step == 1 and np.array_equal(_pixels(one.data), arrays["nhwc"][0])
    ((step, _, two),) = got["two"]  # two images in one value: tiled side by side
    gap = images.GRID_GAP
    assert (step, two.width, two.height, two.format) == (2, 2 * 5 + gap, 6, "png")
    pixels = _pixels(two.data)
    assert np.array_equal(pixels[:, :5], arrays["nhwc"][0])
    assert np.array_equal(pixels[:, 5 + gap :], arrays["nhwc"][1])
    ((_, _, grey),) = got["grey"]
    assert np.array_equal(_pixels(grey.data), arrays["grey"][0, :, :, 0])


@pytest.mark.slow
def test_each_writers_run_is_found(peer_logdir: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, _ = peer_logdir
    runs = find_runs(root)
    counts = {rel: sum(len(p) for p in _images_of(root / rel).values()) for rel in runs}
    assert counts == {"tbx": 2, "tf": 3, "torch": 3}


# --- hostile files --------------------------------------------------------------------------


def _string_tensor(shape: list[int], strings: list[bytes], dtype: int = 7) -> tensor_pb2.TensorProto:
    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims),
                                  string_val=strings)


def _v2(tag: str, tensor: tensor_pb2.TensorProto) -> summary_pb2.Summary.Value:
    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="images"))
    return summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor)


def _legacy(tag: str, data: bytes, width: int, height: int) -> summary_pb2.Summary.Value:
    return summary_pb2.Summary.Value(tag=tag, image=summary_pb2.Summary.Image(
        width=width, height=height, colorspace=3, encoded_image_string=data))


def _event(step: int, *values: summary_pb2.Summary.Value) -> bytes:
    return event_pb2.Event(wall_time=WALL0 + step, step=step,
                           summary=summary_pb2.Summary(value=list(values))).SerializeToString()


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height (a decompression bomb's header)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) \
        + chunk(b"IEND", b"")


def test_hostile_image_values_are_reported_and_skipped_the_rest_is_read(tmp_path: Path) -> None:
    good = RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    png = _png(good)
    loss = summary_pb2.Summary.Value(tag="loss", simple_value=0.5)
    cases = {
        "wrong_size": _legacy("wrong_size", png, 50, 40),
        "cut": _legacy("cut", png[: len(png) // 2], 5, 4),
        "not_image": _legacy("not_image", b"GIF89a not really", 5, 4),
        "bomb": _legacy("bomb", _png_declaring(60000, 60000), 60000, 60000),
        "short": _v2("short", _string_tensor([5], [b"5", b"4", png])),
        "words": _v2("words", _string_tensor([3], [b"five", b"4", png])),
        "huge_declared": _v2("huge_declared", _string_tensor([3], [b"99999", b"99999", png])),
        "too_many": _v2("too_many", _string_tensor([1002], [b"512", b"512"] + [png] * 1000)),
        "floats": _v2("floats", tensor_pb2.TensorProto(dtype=1, float_val=[1.0])),
        "matrix": _v2("matrix", _string_tensor([1, 3], [b"5", b"4", png])),
    }
    records = [_event(0, loss, _legacy("fine", png, 5, 4))]
    records += [_event(i + 1, value) for i, value in enumerate(cases.values())]
    records.append(_event(99, _v2("fine_v2", _string_tensor([3], [b"5", b"4", png])), loss))
    path = _write(tmp_path / "run", records)

    problems: list[RecordProblem] = []
    data = read_run([path], {}, problems, images=True)

    assert sorted(data.images) == ["fine", "fine_v2"]
    for tag in ("fine", "fine_v2"):
        ((_, _, image),) = data.images[tag]
        assert image.data == png and np.array_equal(_pixels(image.data), good)
    assert list(data.scalars["loss"][0]) == [0, 99]
    reasons = {p.reason.split("'")[1]: p.reason for p in problems}
    assert sorted(reasons) == sorted(cases)
    assert all(p.path == str(path) and p.offset > 0 for p in problems)
    assert "declares 50x40 pixels but holds 5x4" in reasons["wrong_size"]
    assert "cannot be decoded" in reasons["cut"]
    assert "not a readable PNG or JPEG image" in reasons["not_image"]
    assert "60000x60000 pixels; at most 16,777,216" in reasons["bomb"]
    assert "shape [5] holding 3 strings" in reasons["short"]
    assert "image size b'five' is not a number of pixels" in reasons["words"]
    assert "1 image(s) of 99999x99999 pixels" in reasons["huge_declared"]
    assert "1000 image(s) of 512x512 pixels" in reasons["too_many"]
    assert "dtype 1, not a string tensor" in reasons["floats"]
    assert "shape [1, 3]" in reasons["matrix"]
    assert all(r.endswith(": skipped") and "\n" not in r for r in reasons.values())


def test_a_caption_beside_an_image_that_is_not_one_stays_a_text(tmp_path: Path) -> None:
    from tensorboard.plugins.text import summary_v2 as text_v2

    (caption,) = text_v2.text_pb("loss/caption", "not an image caption").value
    path = _write(tmp_path / "run", [_event(1, summary_pb2.Summary.Value(tag="loss", simple_value=1.0),
                                            caption)])
    data = read_run([path], {}, [], images=True)
    assert data.texts == {"loss/caption": [(1, WALL0 + 1, "not an image caption")]}


# --- the store: export_tensorboard and import_tensorboard ----------------------------------


@pytest.fixture(scope="module")
def store_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, dict[str, Any]]:
    """A store whose run logged images with run.log_image, exported: (store, logdir, run dir
    name, what was logged)."""
    import tracker

    root = tmp_path_factory.mktemp("store-export")
    db = root / "t.db"
    frames = [RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8) for _ in range(3)]
    jpeg = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (16, 20, 3), dtype=np.uint8)).save(jpeg, "JPEG")
    batch = RNG.integers(0, 256, (3, 5, 5, 4), dtype=np.uint8)
    with tracker.init("imgs", "images", db=db) as run:
        for i, f in enumerate(frames):
            run.log_image("samples", f, step=i, caption=f"epoch {i}", wall=WALL0 + i)
        run.log_image("photo", jpeg.getvalue(), step=7, wall=WALL0 + 7)
        run.log_image("grid", batch, step=9, wall=WALL0 + 9)
        run.log({"loss": 0.5}, step=9)
    summary = tracker.export_tensorboard(root / "logs", db=db)
    assert summary.images == 5 and summary.scalars == 1
    (run_dir,) = [p.name for p in (root / "logs" / "imgs").iterdir()]
    expected = {"frames": frames, "jpeg": jpeg.getvalue(),
                "grid": images.tile_arrays(list(batch)), "run_id": run.id}
    return db, root / "logs", run_dir, expected


def test_event_accumulator_reads_the_images_a_store_export_wrote(
    store_export: tuple[Path, Path, str, dict[str, Any]],
) -> None:
    _, logs, run_dir, expected = store_export
    proc = subprocess.run([sys.executable, "-c", _DUMP, str(logs / "imgs" / run_dir)],
                          capture_output=True, text=True, timeout=300, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    tags = json.loads(proc.stdout)
    assert {t: p for t, (p, _) in tags.items() if p in ("images", "text")} == {
        "samples": "images", "samples/caption": "text", "photo": "images", "grid": "images"}
    events = tags["samples"][1]
    assert [(step, wall) for step, wall, *_ in events] == [(i, WALL0 + i) for i in range(3)]
    for (*_, strings), frame_ in zip(events, expected["frames"]):
        width, height, png = (base64.b64decode(s) for s in strings)
        assert (width, height) == (b"10", b"12") and np.array_equal(_pixels(png), frame_)
    assert base64.b64decode(tags["photo"][1][0][4][2]) == expected["jpeg"]  # byte for byte
    assert np.array_equal(_pixels(base64.b64decode(tags["grid"][1][0][4][2])), expected["grid"])


@pytest.mark.slow
def test_a_tensorboard_server_shows_the_images_of_a_store_export(
    store_export: tuple[Path, Path, str, dict[str, Any]], tmp_path: Path, tensorboard_server,
) -> None:
    _, logs, run_dir, expected = store_export
    run = f"imgs/{run_dir}"
    with tensorboard_server(logs, tmp_path / "tensorboard.log") as tb:
        tags = tb.poll(lambda: tb.get_json("/data/plugin/images/tags"),
                     lambda t: len(t.get(run, {})) == 3)
        assert sorted(tags[run]) == ["grid", "photo", "samples"]
        _served_frames_are(tb, run, expected["frames"])
        query = urllib.parse.urlencode({"run": run, "tag": "photo", "sample": 0})
        (entry,) = tb.get_json(f"/data/plugin/images/images?{query}")
        assert tb.get(f"/data/plugin/images/individualImage?{entry['query']}") == expected["jpeg"]


def test_export_then_import_is_pixel_exact_and_keeps_steps_walls_and_captions(
    store_export: tuple[Path, Path, str, dict[str, Any]], tmp_path: Path,
) -> None:
    import tracker

    db, logs, _, expected = store_export
    other = tmp_path / "imported.db"
    summary = tracker.import_tensorboard(logs, db=other)
    assert (summary.images, summary.scalars, summary.skipped) == (5, 1, {})
    with tracker.open_store(db) as source, tracker.open_store(other) as store:
        (run,) = store.runs()
        assert store.image_keys(run.id) == source.image_keys(expected["run_id"])
        for key in ("samples", "photo", "grid"):
            mine = source.images_after(expected["run_id"], key, 0)
            theirs = store.images_after(run.id, key, 0)
            assert theirs == mine  # steps, walls, format, size, caption and the same bytes
        first = store.image(run.id, "samples", 0)
    assert first.caption == "epoch 0" and np.array_equal(_pixels(first.data), expected["frames"][0])
    again = tracker.import_tensorboard(logs, db=other)
    assert again.images == 0  # read already


def test_a_second_export_writes_only_the_new_images(tmp_path: Path) -> None:
    import tracker

    db = tmp_path / "t.db"
    run = tracker.init("p", "r", db=db)
    run.log_image("x", np.zeros((2, 2), np.uint8), step=1)
    run.flush()
    assert tracker.export_tensorboard(tmp_path / "logs", db=db).images == 1
    assert tracker.export_tensorboard(tmp_path / "logs", db=db).images == 0
    run.log_image("x", np.full((2, 2), 255, np.uint8), step=2)
    run.finish()
    assert tracker.export_tensorboard(tmp_path / "logs", db=db).images == 1
    got = _images_of(next((tmp_path / "logs" / "p").iterdir()))
    assert [(step, _pixels(i.data).max()) for step, _, i in got["x"]] == [(1, 0), (2, 255)]


@pytest.mark.slow
def test_import_tensorboard_stores_the_peers_images_as_log_image_rows(
    peer_logdir: tuple[Path, dict[str, np.ndarray]], tmp_path: Path,
) -> None:
    import tracker

    root, arrays = peer_logdir
    db = tmp_path / "peers.db"
    summary = tracker.import_tensorboard(root, db=db)
    assert summary.images == 8 and "images" not in summary.skipped
    with tracker.open_store(db) as store:
        runs = {r.name: r.id for r in store.runs()}
        got = {name: {key: store.images_after(run_id, key, 0)
                      for key in store.image_keys(run_id)} for name, run_id in runs.items()}
    assert {name: sorted(keys) for name, keys in got.items()} == {
        "torch": ["batch", "chw", "hwc_float"], "tbx": ["chw", "rgba"],
        "tf": ["grey", "one", "two"]}
    (chw,) = got["torch"]["chw"]
    assert chw.step == 3 and np.array_equal(_pixels(chw.image.data), arrays["chw"].transpose(1, 2, 0))
    (rgba,) = got["tbx"]["rgba"]
    assert rgba.step == 6 and np.array_equal(_pixels(rgba.image.data), arrays["rgba"])
    (two,) = got["tf"]["two"]  # two images of one value: one grid, as log_image stores a batch
    assert np.array_equal(_pixels(two.image.data), images.tile_arrays(list(arrays["nhwc"])))
    for name, keys in got.items():  # the same rows the reader gives, through the store
        reader = _images_of(root / name)
        for key, points in keys.items():
            assert [(p.step, p.wall, p.image) for p in points] == reader[key]
