"""``transformers.Trainer`` step time with ``TrackerCallback`` against the same fit without it, and
against the TensorBoard (and, where installed, trackio and W&B offline) integrations. Target: ≤ 2%.

    .venv/bin/python benchmarks/bench_hf_trainer.py [--rounds 11] [--steps 150] [--logging-steps 10]
        [--cores 1] [--peers tensorboard,trackio,wandb] [--wandb-site DIR]

A tiny GPT-2 (built from a config) trains on synthetic sequences; every fit builds a fresh model
from the same seed. Each round fits once per configuration, the configurations taking turns
(rotated) so that load drift on the machine hits them alike, after one untimed warm-up round.
``plain-again`` is a second untracked fit, the A/A control: how far noise alone moves a ratio.
Ours runs in one process; each peer in a process of its own, paired with that process's own
plain fits (trackio and W&B go on working after a run ends and slowed down the next fit).

Two times per fit, taken by callbacks placed first and last in the Trainer's list:
- ``steps``: from the end of step ``--warm`` to the end of the last step, per step (steady state:
  our ``on_log`` every ``--logging-steps`` steps, the writer thread beside the training);
- ``fit``: from the first ``on_train_begin`` to the last ``on_train_end`` (adds creating the run
  with its config, the graph capture on the first batch and the final flush).
Ratios are the median over rounds of each round's ratio to that round's plain fit (paired).
The CPU ratio is the same for this process's CPU time per step (all its threads, ours included),
which other jobs on a shared machine disturb less than wall time.
By default the process is pinned to one core, so every thread of ours (the writer) takes its CPU
from the training's core and the overhead counts all of it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # torch.utils.tensorboard loads TensorFlow
os.environ.setdefault("WANDB_MODE", "offline")  # W&B, where installed, never reaches a server
os.environ.setdefault("WANDB_SILENT", "true")

VOCAB, LENGTH = 256, 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warm", type=int, default=20, help="steps left out of the 'steps' time")
    parser.add_argument("--logging-steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--width", type=int, default=64, help="GPT-2 n_embd")
    parser.add_argument("--cores", type=int, default=1, help="pin to N cores (0: all)")
    parser.add_argument("--peers", default="tensorboard,trackio,wandb",
                        help="integrations to time beside ours, where installed")
    parser.add_argument("--wandb-site", default=None,
                        help="a folder holding wandb (pip install --target), appended to sys.path")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # configs, one process
    args = parser.parse_args()
    if args.wandb_site:
        sys.path.append(args.wandb_site)  # after the venv: its packages win
    if args.worker:
        print(json.dumps(worker(args, args.worker.split(","))))
        return

    # Ours in one process; each peer in a process of its own beside its own plain fits: trackio
    # and W&B keep threads or a service process working after a run ends, which slowed down
    # whichever fit came next when every configuration shared one process.
    groups = [["plain", "plain-again", "tracker"]]
    skipped = []
    for peer in [p for p in args.peers.split(",") if p]:
        (groups.append(["plain", peer]) if _installed(peer) else skipped.append(peer))
    passed = [a for a in sys.argv[1:] if a != "--json"]
    report: dict[str, dict[str, float]] = {}
    header = ""
    for group in groups:
        out = subprocess.run(
            [sys.executable, __file__, *passed, "--worker", ",".join(group)],
            capture_output=True, text=True, check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        header = result["header"]
        for config, row in result["configs"].items():
            name = config if config not in report else f"{config} ({group[-1]}'s process)"
            report[name] = row
    print(header)
    print(f"{'configuration':<30}{'ms/step':>9}{'steps ratio':>13}{'CPU ratio':>11}{'fit s':>8}"
          f"{'fit ratio':>11}")
    for config, row in report.items():
        print(f"{config:<30}{row['step_ms']:>9.3f}{row['steps_ratio']:>13.4f}"
              f"{row['cpu_ratio']:>11.4f}{row['fit_s']:>8.3f}{row['fit_ratio']:>11.4f}")
    print("ratios: to the plain fits of the same process, paired by round; CPU ratio: the process's"
          " CPU time per step (W&B's wandb-core process is not in it)")
    print(f"inside TrackerCallback.on_log: {report['tracker']['on_log_us']:.2f} µs per step")
    if skipped:
        print(f"not installed, not timed: {', '.join(skipped)}")
    if args.json:
        print(json.dumps({"configs": report, "skipped": skipped}))


def worker(args: argparse.Namespace, configs: list[str]) -> dict[str, Any]:
    """Times ``configs`` in this process: one warm-up fit each, then rotated rounds."""
    from _cores import pin

    where = pin(args.cores)
    import torch
    import transformers

    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    bench = Bench(args, Path(tempfile.mkdtemp(prefix="bench-hf-")))
    for config in configs:  # warm-up: imports, allocator, first-use costs of every integration
        with contextlib.redirect_stdout(sys.stderr):  # trackio prints; stdout carries the result
            bench.fit(config)
    results: dict[str, list[dict[str, float]]] = {c: [] for c in configs}
    for r in range(args.rounds):
        order = configs[r % len(configs):] + configs[:r % len(configs)]
        for config in order:
            with contextlib.redirect_stdout(sys.stderr):
                results[config].append(bench.fit(config))
    header = (
        f"Trainer fit of a tiny GPT-2 (n_embd {args.width}, 2 layers, batch {args.batch}x{LENGTH}),"
        f" {args.steps} steps, logging every {args.logging_steps}; {args.rounds} rounds; {where};"
        f" transformers {transformers.__version__}, torch {torch.__version__}"
    )
    return {"header": header, "configs": summarize(results)}


def _installed(peer: str) -> bool:
    import importlib.util

    module = {"tensorboard": "tensorboard", "trackio": "trackio", "wandb": "wandb"}.get(peer, peer)
    return importlib.util.find_spec(module) is not None


class Bench:
    """Builds and times one Trainer fit per call."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        import torch

        self.args, self.work = args, work
        g = torch.Generator().manual_seed(0)
        start = torch.randint(0, VOCAB, (4096, 1), generator=g)
        stride = torch.randint(1, 8, (4096, 1), generator=g)
        self.ids = (start + stride * torch.arange(LENGTH)) % VOCAB
        self.count = 0

    def fit(self, config: str) -> dict[str, float]:
        import torch
        from transformers import (
            GPT2Config,
            GPT2LMHeadModel,
            PrinterCallback,
            Trainer,
            TrainerCallback,
            TrainingArguments,
        )

        from tracker.hooks.transformers import TrackerCallback

        a = self.args
        self.count += 1
        folder = self.work / f"fit-{self.count}"
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(folder / "tb")
        os.environ["WANDB_DIR"] = str(folder)
        os.environ["TRACKIO_DIR"] = str(folder / "trackio")
        torch.manual_seed(0)
        model = GPT2LMHeadModel(GPT2Config(
            vocab_size=VOCAB, n_positions=LENGTH, n_embd=a.width, n_layer=2, n_head=2,
            bos_token_id=0, eos_token_id=0,
        ))
        report_to = [config] if config in ("tensorboard", "trackio", "wandb") else []
        training = TrainingArguments(
            output_dir=str(folder), report_to=report_to, run_name=f"bench-{self.count}",
            max_steps=a.steps, per_device_train_batch_size=a.batch, learning_rate=1e-3,
            logging_steps=a.logging_steps, save_strategy="no", use_cpu=True,
            disable_tqdm=True, seed=0, project="bench-hf",
        )
        marks: dict[str, float] = {}
        warm = a.warm

        class Start(TrainerCallback):
            def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
                marks["begin"], marks["begin_cpu"] = time.perf_counter(), time.process_time()

        class End(TrainerCallback):
            def on_step_end(self, args: Any, state: Any, *rest: Any, **kwargs: Any) -> None:
                if state.global_step == warm:
                    marks["warm"], marks["warm_cpu"] = time.perf_counter(), time.process_time()
                marks["last_step"], marks["last_cpu"] = time.perf_counter(), time.process_time()

            def on_train_end(self, *args: Any, **kwargs: Any) -> None:
                marks["end"], marks["end_cpu"] = time.perf_counter(), time.process_time()

        spent = [0]  # ns inside the callback's on_log (the only hook of ours that runs in steps)

        class Timed(TrackerCallback):
            def on_log(self, *args: Any, **kwargs: Any) -> None:
                t0 = time.perf_counter_ns()
                super().on_log(*args, **kwargs)
                spent[0] += time.perf_counter_ns() - t0

        callbacks: list[Any] = []
        if config == "tracker":
            callbacks.append(Timed(project="bench-hf", db=folder / "tracker.db"))
        trainer = Trainer(
            model=model, args=training, train_dataset=Tokens(self.ids), callbacks=callbacks
        )
        trainer.remove_callback(PrinterCallback)
        trainer.callback_handler.callbacks.insert(0, Start())  # before every integration
        trainer.add_callback(End())  # after every integration
        trainer.train()
        return {
            "step_s": (marks["last_step"] - marks["warm"]) / (a.steps - warm),
            "step_cpu_s": (marks["last_cpu"] - marks["warm_cpu"]) / (a.steps - warm),
            "fit_s": marks["end"] - marks["begin"],
            "on_log_us": spent[0] / 1e3 / a.steps,
        }


class Tokens:
    """The synthetic sequences as Trainer's dataset (labels = inputs: causal LM)."""

    def __init__(self, ids: Any) -> None:
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def summarize(results: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per configuration: median times and the median of the per-round ratios to 'plain'."""
    plain = results["plain"]
    out = {}
    for config, rows in results.items():
        out[config] = {
            "step_ms": statistics.median(r["step_s"] for r in rows) * 1e3,
            "steps_ratio": statistics.median(r["step_s"] / p["step_s"] for r, p in zip(rows, plain)),
            "cpu_ratio": statistics.median(
                r["step_cpu_s"] / p["step_cpu_s"] for r, p in zip(rows, plain)
            ),
            "fit_s": statistics.median(r["fit_s"] for r in rows),
            "fit_ratio": statistics.median(r["fit_s"] / p["fit_s"] for r, p in zip(rows, plain)),
            "on_log_us": statistics.median(r["on_log_us"] for r in rows),
        }
    return out


if __name__ == "__main__":
    main()
