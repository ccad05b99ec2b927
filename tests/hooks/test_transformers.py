"""TrackerCallback with a real transformers Trainer on a tiny BERT built from a config."""

from __future__ import annotations

import json
import math
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

import tracker
from tracker.hooks.transformers import RUN_FILE, TrackerCallback, rewrite_keys

torch.set_num_threads(1)
os.environ["HF_HUB_OFFLINE"] = "1"  # nothing here may reach a hub
transformers.logging.set_verbosity_error()


class Tokens(torch.utils.data.Dataset):
    """Synthetic sequences; the label is whether the first token is in the upper half."""

    def __init__(self, n: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, 64, (n, 12), generator=g)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.ids[i],
            "attention_mask": torch.ones(12, dtype=torch.long),
            "labels": (self.ids[i, 0] >= 32).long(),
        }


def tiny_bert(explode_at: int | None = None) -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16, num_labels=2,
    )
    model = BertForSequenceClassification(config)
    if explode_at is not None:
        calls = [0]

        def explode(module: Any, args: tuple, kwargs: dict) -> None:
            calls[0] += 1
            if module.training and calls[0] > explode_at:
                raise RuntimeError("boom")

        model.register_forward_pre_hook(explode, with_kwargs=True)
    return model


def trainer_for(
    tmp_path: Path, callback: TrackerCallback | None, *, steps: int = 20, model: Any = None,
    **options: Any,
) -> Trainer:
    options.setdefault("save_strategy", "no")
    args = TrainingArguments(
        str(tmp_path / "out"), report_to=[], max_steps=steps, per_device_train_batch_size=8,
        logging_steps=5, eval_strategy="steps", eval_steps=10, learning_rate=1e-3,
        use_cpu=True, disable_tqdm=True, seed=0, **options,
    )
    return Trainer(
        model=model if model is not None else tiny_bert(), args=args,
        train_dataset=Tokens(128), eval_dataset=Tokens(16, seed=1),
        callbacks=[callback] if callback is not None else [],
    )


def test_keys_and_values_are_what_trainer_logged(db_path, tmp_path) -> None:
    trainer = trainer_for(tmp_path, TrackerCallback(db=db_path), run_name="tiny-bert")
    trainer.train()
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        keys = {k.key for k in store.keys(run.id)}
        expected: dict[str, list[tuple[int, float]]] = {}
        for entry in trainer.state.log_history:
            entry = dict(entry)
            step = entry.pop("step")
            for key, value in rewrite_keys(entry).items():
                expected.setdefault(key, []).append((step, float(value)))
        for key, points in expected.items():
            series = store.series(run.id, key)
            assert sorted(zip(series.steps.tolist(), series.values.tolist())) == sorted(points), key
    assert keys == set(expected)  # nothing more, nothing less (watch is off)
    assert {"train/loss", "train/learning_rate", "train/grad_norm", "train/epoch", "eval/loss",
            "eval/samples_per_second", "train/train_samples_per_second"} <= keys
    assert (run.project, run.name, run.status) == ("huggingface", "tiny-bert", "finished")
    assert run.summary["train_runtime"] == trainer.state.log_history[-1]["train_runtime"]
    assert math.isclose(run.summary["train_loss"], trainer.state.log_history[-1]["train_loss"])


def test_eval_metrics_land_at_the_eval_steps(db_path, tmp_path) -> None:
    trainer = trainer_for(tmp_path, TrackerCallback(db=db_path))
    trainer.train()
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        assert store.series(run.id, "eval/loss").steps.tolist() == [10, 20]
        assert store.series(run.id, "train/loss").steps.tolist() == [5, 10, 15, 20]


def test_config_graph_and_watch(db_path, tmp_path) -> None:
    callback = TrackerCallback(
        project="sst2", db=db_path, config={"seed_note": "a"}, watch={"log_every": 5}, tags=["hf"]
    )
    trainer = trainer_for(tmp_path, callback)
    trainer.train()
    model = trainer.model
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        (graph,) = store.graphs(run.id)
        keys = {k.key: k for k in store.keys(run.id)}
    assert run.project == "sst2" and run.tags == ["hf"]
    assert run.config["learning_rate"] == 1e-3 and run.config["max_steps"] == 20  # arguments
    assert run.config["hidden_size"] == 16 and run.config["num_hidden_layers"] == 2  # model
    assert run.config["model/num_parameters"] == sum(p.numel() for p in model.parameters())
    assert run.config["seed_note"] == "a"
    assert graph.source == "hooks" and graph.total_params == run.config["model/num_parameters"]
    assert keys["grad_norm_total"].first_step == 0 and keys["grad_norm_total"].last_step == 15
    assert keys["grad_norm_total"].count == 4


def test_tracking_does_not_change_training(db_path, tmp_path) -> None:
    plain = trainer_for(tmp_path / "a", None)
    plain.train()
    tracked = trainer_for(tmp_path / "b", TrackerCallback(db=db_path, watch=True))
    tracked.train()

    def losses(trainer: Trainer) -> list[float]:
        return [e["loss"] for e in trainer.state.log_history if "loss" in e]

    assert losses(tracked) == losses(plain)


def test_resume_from_checkpoint_continues_the_run(db_path, tmp_path) -> None:
    first = trainer_for(tmp_path, TrackerCallback(db=db_path), save_strategy="steps", save_steps=10)
    first.train()
    checkpoint = tmp_path / "out" / "checkpoint-10"
    record = json.loads((checkpoint / RUN_FILE).read_text())
    second = trainer_for(tmp_path, TrackerCallback(db=db_path), steps=30,
                         save_strategy="steps", save_steps=10)
    second.train(resume_from_checkpoint=str(checkpoint))
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        steps = store.series(run.id, "train/loss").steps.tolist()
    assert run.id == record["run_id"] and run.status == "finished"
    # the first fit logged 5..20; the resumed one logs again after its checkpoint (step 10), and
    # the store keeps every point
    assert steps == [5, 10, 15, 15, 20, 20, 25, 30]


def test_a_server_store_is_recorded_without_its_password(pg_url, tmp_path) -> None:
    """The checkpoint's record holds the URL as libpq reads it, minus the password (the old
    record went through Path.resolve(): a mangled URL, and a password in a plain file)."""
    with_password = pg_url.replace("postgresql://tracker_test@", "postgresql://tracker_test:s3cret-pw@")
    assert with_password != pg_url
    first = trainer_for(tmp_path, TrackerCallback(db=with_password), save_strategy="steps",
                        save_steps=10)
    first.train()
    record = json.loads((tmp_path / "out" / "checkpoint-10" / RUN_FILE).read_text())
    assert record["db"] == pg_url and "s3cret" not in (tmp_path / "out" / "checkpoint-10" /
                                                      RUN_FILE).read_text()
    second = trainer_for(tmp_path, TrackerCallback(), steps=30, save_strategy="steps",
                         save_steps=10)
    second.train(resume_from_checkpoint=True)  # the store comes from the record
    with tracker.open_store(pg_url) as store:
        (run,) = store.runs()
        assert run.id == record["run_id"]
        assert store.series(run.id, "train/loss").steps.tolist() == [5, 10, 15, 20, 25, 30]


def test_resume_picks_the_last_checkpoint_in_output_dir(db_path, tmp_path) -> None:
    first = trainer_for(tmp_path, TrackerCallback(db=db_path), save_strategy="steps", save_steps=10)
    first.train()
    second = trainer_for(tmp_path, TrackerCallback(db=db_path), steps=30,
                         save_strategy="steps", save_steps=10)
    second.train(resume_from_checkpoint=True)  # checkpoint-20
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        assert store.series(run.id, "train/loss").steps.tolist() == [5, 10, 15, 20, 25, 30]


def test_tracker_run_id_continues_a_given_run(db_path, tmp_path, monkeypatch) -> None:
    earlier = tracker.init("mine", db=db_path, config={"from": "before"})
    earlier.finish()
    monkeypatch.setenv("TRACKER_RUN_ID", earlier.id)
    trainer_for(tmp_path, TrackerCallback(db=db_path)).train()
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
    assert run.id == earlier.id and run.status == "finished"
    assert run.config["from"] == "before" and run.config["max_steps"] == 20
    assert "train/loss" in run.last


def test_a_checkpoint_without_a_run_record_starts_a_new_run(db_path, tmp_path, caplog) -> None:
    trainer_for(tmp_path, None, save_strategy="steps", save_steps=10).train()  # untracked
    trainer = trainer_for(tmp_path, TrackerCallback(db=db_path), steps=30)
    trainer.train(resume_from_checkpoint=True)
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        assert store.series(run.id, "train/loss").steps.tolist() == [25, 30]
    assert "TRACKER_RUN_ID" in caplog.text


def test_other_ranks_create_nothing(db_path, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(Trainer, "is_world_process_zero", lambda self: False)
    callback = TrackerCallback(db=db_path)
    trainer = trainer_for(tmp_path, callback, save_strategy="steps", save_steps=10)
    trainer.evaluate()  # before training too: Trainer's first state already says which rank
    trainer.train()
    trainer.evaluate()
    assert not trainer.state.is_world_process_zero
    assert not db_path.exists() and callback.run is None and callback.run_id is None
    assert not (tmp_path / "out" / "checkpoint-10" / RUN_FILE).exists()


def test_a_failed_fit_is_marked_failed_and_the_next_fit_gets_a_new_run(db_path, tmp_path) -> None:
    callback = TrackerCallback(db=db_path)
    failing = trainer_for(tmp_path, callback, model=tiny_bert(explode_at=7))
    with pytest.raises(RuntimeError, match="boom"):
        failing.train()
    failed_id = callback.run_id
    trainer_for(tmp_path, callback).train()  # a notebook re-runs the cell
    with tracker.open_store(db_path) as store:
        failed, finished = store.run(failed_id), store.runs()
        assert store.series(failed_id, "train/loss").steps.tolist() == [5]
    assert failed.status == "failed"
    assert {r.status for r in finished} == {"failed", "finished"} and len(finished) == 2


@pytest.mark.slow  # a fresh process imports torch and transformers (about 5 s)
def test_process_exit_inside_a_failed_fit_marks_it_failed(db_path, tmp_path) -> None:
    script = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from pathlib import Path\n"
        "import test_transformers as t\n"
        "from tracker.hooks.transformers import TrackerCallback\n"
        f"trainer = t.trainer_for(Path({str(tmp_path)!r}), TrackerCallback(db={str(db_path)!r}),"
        " model=t.tiny_bert(explode_at=3))\n"
        "try:\n    trainer.train()\nexcept RuntimeError:\n    print('caught')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0 and "caught" in out.stdout, out.stderr[-2000:]
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
    assert run.status == "failed"  # the script went on, but its training did not complete


def test_evaluate_after_train_logs_into_the_same_run(db_path, tmp_path) -> None:
    callback = TrackerCallback(db=db_path)
    trainer = trainer_for(tmp_path, callback)
    trainer.train()
    metrics = trainer.evaluate()
    predictions = trainer.predict(Tokens(8, seed=2))
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        eval_loss = store.series(run.id, "eval/loss")
        test_loss = store.series(run.id, "test/loss")
    assert eval_loss.steps.tolist() == [10, 20, 20]
    assert eval_loss.values[-1] == pytest.approx(metrics["eval_loss"])
    assert test_loss.values.tolist() == [pytest.approx(predictions.metrics["test_loss"])]
    assert run.status == "finished" and callback.run is None


def test_a_run_passed_in_stays_open_for_its_owner(db_path, tmp_path) -> None:
    run = tracker.init("mine", db=db_path)
    trainer_for(tmp_path, TrackerCallback(run=run, graph=False)).train()
    run.log({"after": 1.0}, step=21)
    run.finish()
    with tracker.open_store(db_path) as store:
        info = store.run(run.id)
        assert store.graphs(run.id) == []
    assert info.status == "finished" and {"train/loss", "after"} <= set(info.last)
    assert info.config["max_steps"] == 20


def test_rewrite_keys_matches_the_integrations() -> None:
    from transformers.integrations.integration_utils import rewrite_logs

    logs = {"loss": 1.0, "eval_loss": 2.0, "test_acc": 0.5, "epoch": 1.0, "train_runtime": 3.0}
    assert rewrite_keys(logs) == rewrite_logs(logs)


def test_example_trains_and_says_where_the_run_is(db_path, tmp_path, monkeypatch, capsys) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "hf_trainer.py"
    monkeypatch.setenv("TRACKER_DB", str(db_path))  # honoured without --db
    monkeypatch.setattr(sys, "argv", [str(example), "--steps", "30",
                                      "--output-dir", str(tmp_path / "out")])
    runpy.run_path(str(example), run_name="__main__")
    with tracker.open_store(db_path) as store:
        (run,) = store.runs()
        loss = store.series(run.id, "train/loss")
        (graph,) = store.graphs(run.id)
        keys = {k.key for k in store.keys(run.id)}
    assert (run.project, run.name, run.status) == ("hf-trainer", "tiny-gpt2", "finished")
    assert loss.steps.tolist() == [10, 20, 30] and loss.values[-1] < loss.values[0]
    assert run.config["n_layer"] == 2 and graph.source == "hooks" and graph.node_count > 20
    assert "grad_norm_total" in keys and "eval/loss" in keys
    assert f"tracker --db {db_path}" in capsys.readouterr().out


def test_import_tracker_loads_neither_transformers_nor_accelerate(db_path) -> None:
    probe = (
        "import sys, tracker, tracker.hooks\n"
        "run = tracker.init('p', db=sys.argv[1]); run.log({'x': 1.0}); run.finish()\n"
        "print([m for m in ('transformers', 'accelerate') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(db_path)], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_hook_modules_import_the_real_packages() -> None:
    """``tracker/hooks/transformers.py`` does not shadow ``transformers`` (absolute imports)."""
    import accelerate

    import tracker.hooks.accelerate as ours_accelerate
    import tracker.hooks.transformers as ours_transformers

    assert transformers.__file__ != ours_transformers.__file__
    assert issubclass(TrackerCallback, transformers.TrainerCallback)
    assert ours_accelerate.GeneralTracker is accelerate.tracking.GeneralTracker
