"""examples/keras_image_predictions.py: its callback logs predictions on a fixed batch every N epochs."""

from __future__ import annotations

import importlib.util
import io
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import tracker  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "keras_image_predictions.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("keras_image_predictions", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_predictions_are_logged_every_n_epochs_at_the_metrics_step(example, db_path: Path,
                                                                   capsys) -> None:
    run_id = example.main(["--db", str(db_path), "--epochs", "4", "--every", "2",
                           "--samples", "64"])
    assert f"browse it with: tracker --db {db_path}" in capsys.readouterr().out
    with tracker.open_store(db_path) as store:
        steps = store.image_steps(run_id, "predictions")
        loss_steps = store.series(run_id, "epoch/loss").steps.tolist()
        images = [store.image(run_id, "predictions", s) for s in steps]
    assert len(steps) == 2  # epochs 2 and 4 of 4
    assert set(steps) <= set(loss_steps)  # where the epoch's metrics are: the slider lines up
    assert [i.caption for i in images] == [f"epoch {e}: noisy input | reconstruction"
                                           for e in (2, 4)]
    # 16 (input | prediction) pairs of 28x56 tiled 4x4, 2 pixels apart, grey
    assert (images[0].width, images[0].height) == (4 * 56 + 3 * 2, 4 * 28 + 3 * 2)
    pixels = np.asarray(Image.open(io.BytesIO(images[0].data)))
    assert pixels.ndim == 2
    assert not np.array_equal(pixels[:28, 28:56], np.asarray(  # predictions change as it learns
        Image.open(io.BytesIO(images[1].data)))[:28, 28:56])


def test_the_callback_refuses_a_bad_interval(example) -> None:
    with pytest.raises(ValueError, match="every must be 1 or more, not 0"):
        example.LogPredictions(tracker.DisabledRun(), np.zeros((1, 4, 4, 1)), every=0)
