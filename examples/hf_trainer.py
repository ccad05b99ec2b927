"""A tiny GPT-2 (built from a config, no download) fine-tuned by ``transformers.Trainer``, tracked.

    python examples/hf_trainer.py [--steps 300] [--db tracker.db]
    tracker --db tracker.db       # then browse the run: curves, config, graph, watch statistics

The data are synthetic arithmetic sequences (each one steps by its own stride), learnable in a few
hundred steps on a CPU. ``TRACKER_DB`` picks the store when ``--db`` is not given.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing to fetch: the model is built from a config

import torch  # noqa: E402
from transformers import (  # noqa: E402
    GPT2Config,
    GPT2LMHeadModel,
    PrinterCallback,
    Trainer,
    TrainingArguments,
)

from tracker.hooks.transformers import TrackerCallback  # noqa: E402

VOCAB, LENGTH = 32, 16


class Sequences(torch.utils.data.Dataset):
    """``start, start + s, start + 2s, ...`` modulo the vocabulary, with a stride ``s`` of 1 to 3."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        start = torch.randint(0, VOCAB, (n, 1), generator=g)
        stride = torch.randint(1, 4, (n, 1), generator=g)
        self.ids = (start + stride * torch.arange(LENGTH)) % VOCAB

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--db", default=None, help="store file (default $TRACKER_DB, else ./tracker.db)")
    parser.add_argument("--output-dir", default=None, help="Trainer's folder (default: a temporary one)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(
        vocab_size=VOCAB, n_positions=LENGTH, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=0, eos_token_id=0,
    ))
    training = TrainingArguments(
        output_dir=args.output_dir or tempfile.mkdtemp(prefix="hf-trainer-"),
        report_to=[],  # no other tracker pulled in
        run_name="tiny-gpt2",
        max_steps=args.steps, per_device_train_batch_size=16, learning_rate=3e-3,
        warmup_steps=min(20, args.steps // 10), lr_scheduler_type="cosine",
        logging_steps=10, eval_strategy="steps", eval_steps=max(1, args.steps // 3),
        save_strategy="no", use_cpu=True, disable_tqdm=True, log_level="warning", seed=0,
    )
    callback = TrackerCallback(
        project="hf-trainer", db=args.db, tags=["example", "transformers"],
        watch={"log_every": 100},  # gradient/weight/activation statistics every 100 steps
    )
    trainer = Trainer(
        model=model, args=training, train_dataset=Sequences(2048, seed=0),
        eval_dataset=Sequences(128, seed=1), callbacks=[callback],
    )
    trainer.remove_callback(PrinterCallback)  # the run holds the logs; keep the terminal quiet
    trainer.train()
    losses = [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e]
    print(f"eval loss {losses[0]:.3f} -> {losses[-1]:.3f} (uniform guess: {math.log(VOCAB):.3f})")
    print(f"run {callback.run_id} in {callback.db_path}")
    print(f"browse it: tracker --db {shlex.quote(str(callback.db_path))}")


if __name__ == "__main__":
    main()
