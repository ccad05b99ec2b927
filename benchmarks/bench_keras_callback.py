"""Keras fit() time with TrackerCallback(log_every=1) against fit() without callbacks, and against
Keras's own TensorBoard callback (update_freq=1) as the peer, per backend. Target: under 2%.

    .venv/bin/python benchmarks/bench_keras_callback.py [--backends tensorflow,jax] [--reps 9]
        [--cores 1]

By default the process is pinned to one core (TensorFlow's thread pools set to one thread): every
thread of ours then takes its CPU from the training's core, so the overhead counts all of it, and
TensorFlow fits stop being bimodal. ``--cores 0`` uses every core.

Each backend runs in a fresh process (KERAS_BACKEND is fixed at import). In it, one warm-up fit
compiles the model; then every repetition times one fit() per configuration, the configurations
taking turns (rotated) so that load drift on the machine hits them alike. ``plain-again`` is a
second plain fit(), the A/A control: its ratio shows how far this machine's noise alone moves a
ratio, so an overhead inside it is not measurable. Printed per
configuration: median wall time and its ratio to the plain fit(), the median of the per-repetition
(paired) wall ratios, the ratio of the fastest fits ('best': on the TensorFlow backend some fits
of every configuration, plain ones included, take 1.5x as long for the same CPU time, and the
fastest fits are the ones that escaped that), the process-CPU ratio, and the training thread's own CPU time (the work the
loop's thread does; least disturbed by other jobs on a shared machine). Also the time spent
inside the callback's batch hooks. No weight histograms, graphs or profiles: this is the per-batch
cost of the metric logging.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONFIGS = ("plain", "plain-again", "tracker", "tensorboard")


def worker(reps: int, samples: int, batch: int, epochs: int, units: int, cores: int) -> dict[str, Any]:
    """Times the configurations in this process (KERAS_BACKEND set by the caller)."""
    from _cores import pin

    where = pin(cores)
    if cores == 1 and os.environ.get("KERAS_BACKEND") == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(1)
    import keras
    import numpy as np

    import tracker
    from tracker.hooks.keras import TrackerCallback

    rng = np.random.default_rng(0)
    x = rng.random((samples, 64), dtype=np.float32)
    y = rng.integers(0, 10, samples)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer="adam", metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    work = Path(tempfile.mkdtemp(prefix="bench-keras-"))
    run = tracker.init("bench-keras", db=work / "tracker.db")
    hook_ns = [0, 0, 0]  # ns in our batch-begin and batch-end hooks, batches (load-robust)

    class Timed(TrackerCallback):
        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            t0 = time.perf_counter_ns()
            super().on_train_batch_begin(batch, logs)
            hook_ns[0] += time.perf_counter_ns() - t0
            hook_ns[2] += 1

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            t0 = time.perf_counter_ns()
            super().on_train_batch_end(batch, logs)
            hook_ns[1] += time.perf_counter_ns() - t0

    ours = TrackerCallback(run, log_every=1, graph=False)  # timed as users run it

    def callbacks(config: str) -> list[Any]:
        if config == "tracker":
            return [ours]
        if config == "tensorboard":
            return [keras.callbacks.TensorBoard(str(work / "tb"), update_freq=1,
                                                write_graph=False, profile_batch=0)]
        return []

    def fit(config: str) -> tuple[float, float, float]:
        c0, m0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=callbacks(config))
        wall = time.perf_counter() - t0
        return wall, time.process_time() - c0, time.thread_time() - m0

    for config in CONFIGS:
        fit(config)  # compile, first writes, imports (TensorBoard imports TF on the JAX backend)
    times: dict[str, list[float]] = {c: [] for c in CONFIGS}
    cpu: dict[str, list[float]] = {c: [] for c in CONFIGS}
    main: dict[str, list[float]] = {c: [] for c in CONFIGS}
    for rep in range(reps):
        shift = rep % len(CONFIGS)
        order = CONFIGS[shift:] + CONFIGS[:shift]
        for config in order:
            wall, cpu_s, main_s = fit(config)
            times[config].append(wall)
            cpu[config].append(cpu_s)
            main[config].append(main_s)
    # Time spent inside the hooks, from one extra fit with an instrumented copy (not timed above).
    hook_ns[:] = [0, 0, 0]
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0,
              callbacks=[Timed(run, log_every=1, graph=False)])
    run.finish()
    steps = epochs * -(-samples // batch)
    logged = len(tracker.open_store(run.db_path).series(run.id, "train/loss"))
    return {"times": times, "cpu": cpu, "main": main, "steps_per_fit": steps,
            "tracker_points_loss": logged, "begin_us": hook_ns[0] / max(hook_ns[2], 1) / 1e3,
            "end_us": hook_ns[1] / max(hook_ns[2], 1) / 1e3,
            "isolated_cpu_us": isolated(model, work / "isolated.db"), "where": where}


def isolated(model: Any, db: Path, batches: int = 50_000) -> float:
    """Process CPU per batch of the callback alone (hooks, bulk logging, the writer thread's
    SQLite writes) driven by a loop that does nothing else: CPU time, so other jobs on the
    machine barely move it."""
    import tracker
    from tracker.hooks.keras import TrackerCallback

    run = tracker.init("bench-keras-isolated", db=db)
    callback = TrackerCallback(run, log_every=1, graph=False)
    callback.set_model(model)
    callback.set_params({"epochs": 1, "steps": batches, "verbose": 0})
    logs = {"accuracy": 0.5, "loss": 1.25}
    c0 = time.process_time()
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    for i in range(batches):
        callback.on_train_batch_begin(i)
        callback.on_train_batch_end(i, logs)
    callback.on_epoch_end(0, logs)
    callback.on_train_end(logs)
    run.finish()  # the writer thread has stored every point when this returns
    return (time.process_time() - c0) / batches * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--samples", type=int, default=32768, help="2 epochs of 1,024 batches")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--units", type=int, default=128, help="width of the two hidden layers")
    parser.add_argument("--cores", type=int, default=1,
                        help="pin to this many cores (0: all); on 1 core our threads' CPU all counts "
                             "and TensorFlow fits stop being bimodal")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.reps, args.samples, args.batch, args.epochs, args.units,
                                args.cores)))
        return
    for backend in args.backends.split(","):
        cmd = [sys.executable, __file__, "--worker", "--reps", str(args.reps), "--samples",
               str(args.samples), "--batch", str(args.batch), "--epochs", str(args.epochs), "--units", str(args.units),
               "--cores", str(args.cores)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                             env={**os.environ, "KERAS_BACKEND": backend})
        result = json.loads(out.stdout.strip().splitlines()[-1])
        med = {c: statistics.median(t) for c, t in result["times"].items()}
        cpu = {c: statistics.median(t) for c, t in result["cpu"].items()}
        main = {c: statistics.median(t) for c, t in result["main"].items()}
        # Each repetition ran every configuration back to back: the median of the per-repetition
        # ratios is less exposed to load drift than the ratio of the medians.
        paired = {c: statistics.median(a / b for a, b in zip(result["times"][c],
                                                           result["times"]["plain"]))
                  for c in CONFIGS}
        steps = result["steps_per_fit"]
        print(f"[{backend} on {result['where']}, MLP 64-{args.units}-{args.units}-10, batch {args.batch}] {steps} batches per fit, median of {args.reps} fits "
              f"(tracker logged {result['tracker_points_loss']} loss points)")
        print(f"  time inside TrackerCallback per batch: {result['begin_us']:.1f} us in "
              f"on_train_batch_begin (training thread) + {result['end_us']:.1f} us"
              " in on_train_batch_end (run.log; a Keras worker thread on JAX)")
        iso = result["isolated_cpu_us"]
        print(f"  callback alone, all threads (hooks + bulk logging + SQLite writes): {iso:.1f} us"
              f" CPU per batch = {iso / (med['plain'] / steps * 1e6) * 100:.1f}% of a plain batch")
        for config in CONFIGS:
            ms = med[config] / steps * 1e3
            ratio = med[config] / med["plain"]
            cpu_ratio = cpu[config] / cpu["plain"]
            main_ratio = main[config] / main["plain"]
            best = min(result["times"][config]) / min(result["times"]["plain"])
            print(f"  {config:<12} wall {med[config]:6.3f} s {ms:6.3f} ms/batch x{ratio:.3f}"
                  f"  paired x{paired[config]:.3f}  best x{best:.3f}  process CPU x{cpu_ratio:.3f}"
                  f"  training-thread CPU {main[config]:6.3f} s x{main_ratio:.3f}")


if __name__ == "__main__":
    main()
