"""Images: what logging one costs the caller, encoding it the writer, and showing it the app.

    python benchmarks/bench_images.py [--repeat 3] [--quick]

1. ``prepare`` on the caller's thread (target: <= 50 us for a 256x256 RGB uint8 numpy array),
   for numpy, torch (CPU), JAX and TensorFlow values, a PIL image and a matplotlib figure.
2. ``encode`` on the writer thread: PNG/JPEG time and bytes for typical images.
3. The image view (textual-image) in a headless app: a 512x512 image shown after it is given to
   the widget, and stepping through 100 images with the half-block fallback; Kitty and Sixel
   drawing costs too (their escape output discarded).
4. ``run.log_image`` of a 256x256 RGB uint8 array (target: <= 50 us to the caller) beside
   TensorBoard's writers (``torch.utils.tensorboard``'s ``add_image``, ``tf.summary.image``).
5. The app's Images tab on a store: a 512x512 image shown after its key is chosen (target
   <= 150 ms) and a step of the slider through 100 steps in half blocks (target <= 50 ms).

Every figure is the median of ``--repeat`` runs (each run itself a median over many calls).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from tracker.images import encode, prepare  # noqa: E402

RNG = np.random.default_rng(0)


def photo(size: int, noise: float = 0.03) -> np.ndarray:
    """A smooth synthetic 'sample' with a little noise (uint8 RGB), like a generated image."""
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([np.sin(6 * x + 3 * y), np.cos(5 * y), np.sin(24 * x * y)], -1) * 0.4 + 0.5
    return (np.clip(base + RNG.normal(0, noise, base.shape), 0, 1) * 255).astype(np.uint8)


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    """Median cost of one call in microseconds (after a warm-up)."""
    for _ in range(min(50, calls)):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def median_of(repeat: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(repeat))


def bench_prepare(repeat: int, quick: bool) -> None:
    print("\n1. prepare() on the caller's thread, median us a call")
    calls = 500 if quick else 3000
    rgb = photo(256)
    cases: list[tuple[str, Any]] = [
        ("numpy 256x256x3 uint8 (copied)", rgb),
        ("numpy 256x256x3 uint8, read-only (kept)", np.frombuffer(rgb.tobytes(), np.uint8).reshape(rgb.shape)),
        ("numpy 256x256x3 float32 (copied)", rgb.astype(np.float32) / 255),
        ("numpy 64x3x64x64 float32 batch (copied)", RNG.random((64, 3, 64, 64), dtype=np.float32)),
    ]
    import torch

    torch.set_num_threads(1)
    cases.append(("torch CPU 3x256x256 uint8 (copied)", torch.from_numpy(rgb.transpose(2, 0, 1).copy())))
    cases.append(("torch CPU 3x256x256 float32 (copied)", torch.rand(3, 256, 256)))
    import jax.numpy as jnp

    cases.append(("JAX 256x256x3 uint8 (kept, read later)", jnp.asarray(rgb)))
    if not quick:
        import tensorflow as tf

        cases.append(("TensorFlow 256x256x3 uint8 (kept)", tf.constant(rgb)))
    from PIL import Image

    cases.append(("PIL 256x256 RGB (copied)", Image.fromarray(rgb)))
    for name, value in cases:
        cost = median_of(repeat, lambda v=value: per_call_us(lambda: prepare("samples", v), calls))
        print(f"   {name:<44} {cost:8.1f}")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 3), dpi=100)
    axes = figure.add_subplot()
    axes.imshow(RNG.random((10, 10)))
    axes.set_title("confusion")
    cost = median_of(repeat, lambda: per_call_us(lambda: prepare("cm", figure), 10 if quick else 30))
    print(f"   {'matplotlib figure 400x300 (drawn by Agg)':<44} {cost / 1000:8.1f} ms")


def bench_encode(repeat: int, quick: bool) -> None:
    print("\n2. encode() on the writer thread, median ms a call and bytes")
    cases = [
        ("256x256 RGB sample", photo(256)),
        ("512x512 RGB sample", photo(512)),
        ("512x512 RGB noise (PNG worst case)", RNG.integers(0, 256, (512, 512, 3), dtype=np.uint8)),
        ("1024x1024 RGB sample (past 1 MiB of PNG: JPEG)", photo(1024)),
        ("28x28 grey x 64 batch (one grid)", (RNG.random((64, 28, 28)) > 0.7)[..., None]),
    ]
    for name, array in cases:
        pending = prepare("k", array)
        calls = 3 if quick else 10
        cost = median_of(repeat, lambda p=pending: per_call_us(lambda: encode(p), calls)) / 1000
        out = encode(pending)
        print(f"   {name:<48} {cost:8.1f} ms  {out.format:<4} {out.width}x{out.height} "
              f"{len(out.data) / 1024:8.1f} KB")


class _Discard:
    """Stands in for the terminal: Kitty and Sixel drawing write escape sequences to it."""

    def write(self, data: str) -> int:
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def bench_view(repeat: int, quick: bool) -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import Static
    from textual_image.widget import HalfcellImage

    from tracker.tui.widgets import image_view
    from tracker.tui.widgets.image_view import ImageView

    size = (120, 40)
    frames = [encode(prepare("k", photo(512, noise=0.02 + i / 2000)))
              for i in range(10 if quick else 100)]

    class ViewApp(App[None]):
        def __init__(self, protocol: str) -> None:
            super().__init__()
            self.protocol = protocol

        def compose(self) -> ComposeResult:
            yield ImageView(self.protocol, cell_size=(10, 20))
            yield Static(id="line")

    async def one_run(protocol: str) -> dict[str, float]:
        """Wall and CPU ms for the first image and the median step, and the floor: the same
        loop changing one line of text."""
        app = ViewApp(protocol)
        async with app.run_test(size=size) as pilot:
            view = app.query_one(ImageView)
            await pilot.pause()

            async def timed(change: Callable[[], None]) -> tuple[float, float]:
                """(wall ms to a composed frame, CPU ms of all the work the change caused)."""
                await pilot.pause()  # nothing left over from the last change
                wall, cpu = time.perf_counter(), time.process_time()
                change()
                # What Textual's refresh timer runs next (layout, the changed lines drawn), at
                # once, then a whole frame composed: the time between a key press and the
                # screen, without pilot.pause()'s idle-detection sleeps. Work a widget defers
                # to later messages (textual-image's Sixel widget recomposes) is not in it...
                app.screen._on_timer_update()
                app.screen._compositor.render_update(full=True)
                wall = time.perf_counter() - wall
                await pilot.pause()  # ...but is in the CPU time, taken once all is done
                app.screen._compositor.render_update(full=True)
                return wall * 1000, (time.process_time() - cpu) * 1000

            first = await timed(lambda: view.show(frames[0], step=0))
            steps = [await timed(lambda i=i, f=f: view.show(f, step=i))
                     for i, f in enumerate(frames[1:], 1)]
            picture = view.query_one(".image-picture")
            assert picture.display and picture.size.width > 10, "the image was not drawn"
            line = app.query_one("#line", Static)
            floor = [await timed(lambda i=i: line.update(f"step {i}")) for i in range(20)]
        return {"first": first[0], "first_cpu": first[1],
                "step": statistics.median(s[0] for s in steps),
                "step_cpu": statistics.median(s[1] for s in steps),
                "floor": statistics.median(f[0] for f in floor)}

    print(f"\n3. the image view in a headless {size[0]}x{size[1]} app, 512x512 images, ms: "
          "wall time from show() to a composed frame / CPU time of all the work it caused\n"
          "   (textual-image's Kitty/Sixel/half-block widgets defer part of their work past the "
          "frame: compare their CPU)")
    real_stdout = sys.__stdout__
    variants = [("halfcell", "half blocks (tracker)", None),
                ("halfcell", "half blocks (textual-image)", HalfcellImage),
                ("kitty", "Kitty (textual-image)", None), ("sixel", "Sixel (textual-image)", None)]
    for protocol, name, widget in variants:
        runs = []
        sys.__stdout__ = _Discard()  # type: ignore[assignment]
        saved = image_view._WIDGETS["halfcell"]
        if widget is not None:
            image_view._WIDGETS["halfcell"] = widget
        try:
            for _ in range(repeat):
                runs.append(asyncio.run(one_run(protocol)))
        finally:
            sys.__stdout__ = real_stdout
            image_view._WIDGETS["halfcell"] = saved
        m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"   {name:<28} first shown {m['first']:6.1f} / {m['first_cpu']:6.1f}   "
              f"per step ({len(frames) - 1}) {m['step']:6.1f} / {m['step_cpu']:6.1f}   "
              f"(a one-line text change: {m['floor']:5.1f})")


def bench_log_image(repeat: int, quick: bool) -> None:
    """run.log_image's cost to the caller beside TensorBoard's writers (which encode the PNG on
    the caller's thread), 256x256 RGB uint8, the writer encoding and storing meanwhile."""
    import tempfile

    import tracker

    calls = 200 if quick else 1000
    rgb = photo(256)
    print(f"\n4. log_image() of a 256x256 RGB uint8 array, median us a call ({calls} calls; "
          "our writer thread encodes and stores meanwhile)")
    with tempfile.TemporaryDirectory() as tmp:
        means: list[float] = []

        def ours() -> float:
            run = tracker.init("bench", db=Path(tmp) / "t.db")
            steps = iter(range(10**9))
            start = time.perf_counter()
            cost = per_call_us(lambda: run.log_image("samples", rgb, step=next(steps)), calls)
            means.append((time.perf_counter() - start) / (calls + min(50, calls)) * 1e6)
            run.finish()
            return cost

        mine = median_of(repeat, ours)
        print(f"   {'tracker run.log_image':<44} {mine:8.1f}  (target <= 50)")
        print(f"   {'  mean of a loop that only logs images':<44} {statistics.median(means):8.1f}"
              "  (past 64 waiting, log_image waits for the writer's encoding)")
        import torch
        from torch.utils.tensorboard import SummaryWriter

        torch.set_num_threads(1)
        tensor = torch.from_numpy(rgb)

        def torch_writer() -> float:
            writer = SummaryWriter(tempfile.mkdtemp(dir=tmp))
            steps = iter(range(10**9))
            cost = per_call_us(lambda: writer.add_image("samples", tensor, next(steps),
                                                        dataformats="HWC"), calls // 4)
            writer.close()
            return cost

        theirs = median_of(repeat, torch_writer)
        print(f"   {'torch.utils.tensorboard add_image':<44} {theirs:8.1f}  "
              f"(tracker: {mine / theirs:.3f}x)")
        if not quick:
            import tensorflow as tf

            constant = tf.constant(rgb[None])

            def tf_writer() -> float:
                writer = tf.summary.create_file_writer(tempfile.mkdtemp(dir=tmp))
                steps = iter(range(10**9))
                with writer.as_default():
                    cost = per_call_us(lambda: tf.summary.image("samples", constant,
                                                                step=next(steps)), calls // 4)
                writer.close()
                return cost

            theirs = median_of(repeat, tf_writer)
            print(f"   {'tf.summary.image':<44} {theirs:8.1f}  (tracker: {mine / theirs:.3f}x)")


def bench_tab(repeat: int, quick: bool) -> None:
    """The app's Images tab on a real store: a 512x512 image shown after its key is chosen, and
    stepping the slider through 100 steps (half blocks), wall time to a composed frame."""
    import tempfile

    import tracker
    from tracker.tui.app import make_app
    from tracker.tui.screens.run import RunScreen
    from tracker.tui.widgets.images_panel import ImagesPanel

    size, count = (120, 40), 21 if quick else 101
    print(f"\n5. the Images tab in a headless {size[0]}x{size[1]} app on a store, 512x512 PNGs, "
          "ms of wall time to a composed frame (the read in a thread worker included)")

    async def one_run(db: Path) -> dict[str, float]:
        app = make_app(db, live=False)
        async with app.run_test(size=size) as pilot:
            for _ in range(2000):
                await pilot.pause(0.01)
                if getattr(app.screen, "loaded", False):
                    break
            await pilot.press("enter")
            for _ in range(2000):
                await pilot.pause(0.01)
                if isinstance(app.screen, RunScreen) and app.screen.detail is not None:
                    break
            await pilot.press("9")
            panel = app.screen.query_one(ImagesPanel)
            (view,) = panel.views()
            options = panel.query_one("#image-keys")

            async def until_shown(step: int, change: Callable[[], None]) -> float:
                await pilot.pause()
                start = time.perf_counter()
                change()
                while not (view.step == step and view.image is not None
                           and view._shown is not None):
                    await asyncio.sleep(0.0005)
                app.screen._on_timer_update()
                app.screen._compositor.render_update(full=True)
                return (time.perf_counter() - start) * 1000

            await until_shown(count - 1, lambda: None)  # the first key, shown on opening the tab
            keys = []
            for _ in range(3):  # the other key, then 'samples' again: chosen -> shown
                options.highlighted = 1
                await until_shown(0, lambda: None)
                keys.append(await until_shown(count - 1, lambda: setattr(options, "highlighted", 0)))
            await until_shown(0, lambda: panel.slider.action_jump(0))
            steps = [await until_shown(i, lambda: panel.action_slide(1)) for i in range(1, count)]
        return {"key": statistics.median(keys), "step": statistics.median(steps),
                "worst": max(steps)}

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "t.db"
        with tracker.init("bench", "images", db=db) as run:
            for step in range(count):
                run.log_image("samples", photo(512, noise=0.02 + step / 2000), step=step)
            run.log_image("zz-other", photo(64), step=0)
        runs = [asyncio.run(one_run(db)) for _ in range(repeat)]
    m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"   key chosen -> 512x512 image shown {m['key']:7.1f}  (target <= 150)")
    print(f"   a slider step ({count - 1} steps)      {m['step']:7.1f}  (target <= 50; "
          f"slowest step {m['worst']:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer calls, no TensorFlow")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    bench_prepare(args.repeat, args.quick)
    bench_encode(args.repeat, args.quick)
    bench_view(args.repeat, args.quick)
    bench_log_image(args.repeat, args.quick)
    bench_tab(args.repeat, args.quick)


if __name__ == "__main__":
    main()
