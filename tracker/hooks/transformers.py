"""``TrackerCallback``: a Hugging Face ``transformers.Trainer`` callback that logs into a tracker run.

    from tracker.hooks.transformers import TrackerCallback

    args = TrainingArguments("out", report_to=[], logging_steps=10)
    trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[TrackerCallback(project="sst2")])
    trainer.train()

What ``Trainer`` logs goes to ``run.log`` at ``state.global_step`` under the keys W&B and TensorBoard
show (``train/loss``, ``train/learning_rate``, ``train/grad_norm``, ``train/epoch``, ``eval/loss``,
``train/train_samples_per_second``...); ``TrainingArguments`` and the model's config become the
run's config; the model graph is captured on the first training batch. Only the world-process-zero
rank creates a run. Resuming from a checkpoint continues the run whose id the checkpoint holds.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

import tracker

from ..contract import RunLike
from ..notices import Once, warn
from ..run.config import to_config
from ..urls import ServerURL, without_password

RUN_FILE = "tracker_run.json"  # written into every checkpoint folder: the run to continue
RUN_ID_ENV = "TRACKER_RUN_ID"
# Logged once at the end of train(): also kept in the run's summary under these names (as W&B does).
SUMMARY_KEYS = (
    "train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos",
)


def rewrite_keys(logs: Mapping[str, Any]) -> dict[str, Any]:
    """``Trainer``'s keys as W&B and TensorBoard show them: ``eval_loss`` -> ``eval/loss``,
    ``test_acc`` -> ``test/acc``, everything else under ``train/``."""
    out: dict[str, Any] = {}
    for key, value in logs.items():
        if key.startswith("eval_"):
            out["eval/" + key[5:]] = value
        elif key.startswith("test_"):
            out["test/" + key[5:]] = value
        else:
            out["train/" + key] = value
    return out


class TrackerCallback(TrainerCallback):
    """Log a ``transformers.Trainer`` into a tracker run (one run per ``train()``, rank zero only)."""

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        *,
        config: Any = None,
        db: str | os.PathLike[str] | None = None,
        run: RunLike | None = None,
        resume: str | None = None,
        graph: bool = True,
        watch: bool | Mapping[str, Any] = False,
        **init_kwargs: Any,
    ) -> None:
        """Args:
            project: default ``TrainingArguments.project`` ("huggingface").
            name: default ``TrainingArguments.run_name``, else a generated name.
            config: merged over the arguments and the model's config in the run's config.
            db, and other ``tracker.init`` keywords (tags, group, notes, strict): the store.
            run: log into this run instead of creating one (it stays yours to finish).
            resume: the id of a run to continue (else ``$TRACKER_RUN_ID``, else the run recorded
                in the checkpoint ``train(resume_from_checkpoint=...)`` starts from).
            graph: store the model graph, captured on the first training batch.
            watch: ``True`` (or a dict of ``watch()`` options, e.g. ``{"log_every": 50}``) records
                gradient/weight/activation statistics with ``tracker.hooks.torch.watch``.
        """
        self._project, self._name, self._config = project, name, config
        self._db, self._init_kwargs = db, init_kwargs
        self._user_run = run
        self._resume = resume
        self._graph, self._watch = graph, watch
        self.run: RunLike | None = run  # the run being logged into (None between train() calls)
        self.run_id: str | None = run.id if run is not None else None  # the last run logged
        self.db_path: Path | None = run.db_path if run is not None else None  # its store
        self._training = False
        self._graph_handle: Any = None
        self._watched: Any = None
        self._notices = Once()  # a key that cannot be logged is said once per callback

    # -- the run's life ---------------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                       **kwargs: Any) -> None:
        """Start (or continue) the run; set up the graph capture and ``watch``."""
        if not state.is_world_process_zero:
            return
        if self._training:  # the last train() raised and never reached on_train_end
            self._end("failed")
        self._open(args, state, model, resume_id=self._resume_id(args, state))
        self._training = True
        atexit.register(self._at_exit)
        if model is not None and self._watch:
            self._start_watch(model, args, state)
        if model is not None and self._graph:
            self._graph_handle = model.register_forward_pre_hook(
                self._capture_graph, with_kwargs=True
            )

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Finish the run as ``finished``."""
        if state.is_world_process_zero and self._training:
            self._end("finished")

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None,
               **kwargs: Any) -> None:
        """Log what ``Trainer`` reported at the global step (an ``evaluate()`` outside ``train()``
        is logged into this callback's last run, or a new one)."""
        if not state.is_world_process_zero or not logs:
            return
        self._outside_training(args, state, kwargs.get("model"), lambda: self._log(logs, state))

    def on_predict(self, args: Any, state: Any, control: Any, metrics: Mapping[str, Any] | None = None,
                   **kwargs: Any) -> None:
        """Log ``predict()``'s metrics (``test/...``) at the global step."""
        if not state.is_world_process_zero or not metrics:
            return
        self._outside_training(args, state, kwargs.get("model"), lambda: self._log(metrics, state))

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Write the run's id into the checkpoint folder, so a resume continues this run."""
        if not state.is_world_process_zero or self.run is None:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not folder.is_dir():
            return  # a checkpoint saved somewhere else (hyperparameter search): $TRACKER_RUN_ID
        record = {"run_id": self.run.id, "db": _store_record(self.run.db_path)}
        try:
            tmp = folder / f".{RUN_FILE}.tmp"
            tmp.write_text(json.dumps(record))
            tmp.replace(folder / RUN_FILE)
        except OSError as exc:  # a missing record only costs the resume its run id
            warn(f"could not write {folder / RUN_FILE} ({exc}); set {RUN_ID_ENV} to resume")
        self.run.flush()  # what the checkpoint holds is readable too

    # -- helpers ----------------------------------------------------------------------------------
    def _resume_id(self, args: Any, state: Any) -> str | None:
        if self._resume:
            return self._resume
        if os.environ.get(RUN_ID_ENV):
            return os.environ[RUN_ID_ENV]
        if not state.global_step:
            return None  # a fresh train(): a new run
        folders = [Path(args.output_dir) / f"checkpoint-{state.global_step}"]
        if isinstance(getattr(args, "resume_from_checkpoint", None), str):
            folders.insert(0, Path(args.resume_from_checkpoint))
        for folder in folders:
            try:
                record = json.loads((folder / RUN_FILE).read_text())
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and isinstance(record.get("run_id"), str):
                if self._db is None and not os.environ.get("TRACKER_DB") and record.get("db"):
                    self._db = record["db"]  # the store the checkpoint's run lives in
                return record["run_id"]
        warn(
            f"resuming at step {state.global_step} without {RUN_FILE} in the checkpoint: "
            f"a new run starts (set {RUN_ID_ENV}=<run id> to continue one)"
        )
        return None

    def _open(self, args: Any, state: Any, model: Any, resume_id: str | None) -> None:
        if self._user_run is not None:
            self.run = self._user_run
            self.run.update_config(self._run_config(args, model))
            return
        project = self._project or getattr(args, "project", None) or "huggingface"
        name = self._name or getattr(args, "run_name", None)
        config = self._run_config(args, model)
        if resume_id is not None:
            try:
                self.run = tracker.init(
                    project, name, config, db=self._db, resume=resume_id, **self._init_kwargs
                )
            except tracker.RunNotFoundError:
                warn(f"run {resume_id} is not in the store: a new run starts")
            else:
                self.run_id, self.db_path = self.run.id, self.run.db_path
                return
        self.run = tracker.init(project, name, config, db=self._db, **self._init_kwargs)
        self.run_id, self.db_path = self.run.id, self.run.db_path

    def _run_config(self, args: Any, model: Any) -> dict[str, Any]:
        """The model's config, then ``TrainingArguments`` over it (W&B's layout), then ``config``."""
        config: dict[str, Any] = {}
        model_config = getattr(model, "config", None)
        if model_config is not None and hasattr(model_config, "to_dict"):
            config.update(model_config.to_dict())
        elif isinstance(model_config, Mapping):
            config.update(model_config)
        if hasattr(args, "to_dict"):
            config.update(args.to_dict())
        if hasattr(model, "num_parameters"):
            try:
                config["model/num_parameters"] = int(model.num_parameters())
            except Exception:  # a model that cannot count: the config goes on without it
                pass
        config.update(to_config(self._config))
        return config

    def _log(self, logs: Mapping[str, Any], state: Any) -> None:
        metrics = rewrite_keys(logs)
        step = int(state.global_step)
        texts = {k: v for k, v in metrics.items() if isinstance(v, str)}
        numbers = {k: v for k, v in metrics.items() if k not in texts}
        run = self.run
        assert run is not None  # on_train_begin() or _outside_training() opened it
        try:
            run.log(numbers, step=step)
        except (TypeError, ValueError):  # one odd value (a list from compute_metrics): skip it
            for key, value in numbers.items():
                try:
                    run.log({key: value}, step=step)
                except (TypeError, ValueError) as exc:
                    self._notices.warn(key, f"{key} is not logged: {exc}")
        for key, text in texts.items():
            run.log_text(key, text, step)
        summary = {k: logs[k] for k in SUMMARY_KEYS if isinstance(logs.get(k), (int, float))}
        if summary:
            run.set_summary(**summary)

    def _outside_training(self, args: Any, state: Any, model: Any, log: Any) -> None:
        if self.run is not None:
            log()
            return
        # evaluate()/predict() after (or without) train(): into the last run, then close it again
        self._open(args, state, model, resume_id=self.run_id)
        try:
            log()
        finally:
            self._end("finished")

    def _capture_graph(self, module: Any, args: tuple, kwargs: dict) -> None:
        import torch

        if not (torch.is_grad_enabled() and module.training):
            return  # an evaluation before training: wait for the first training batch
        self._remove_graph_hook()  # first: the capture's own forward must not land here again
        try:
            from .torch.graph import capture_graph

            # Trainer calls model(**batch): keyword inputs, which torch.fx does not trace
            method = "hooks" if kwargs else "auto"
            assert self.run is not None  # _end() removes this hook before it lets the run go
            self.run.log_graph(capture_graph(module, args, kwargs, method=method))
        except Exception as exc:  # a graph is a nicety: training goes on without it
            warn(f"could not capture the model graph ({exc!r})")

    def _remove_graph_hook(self) -> None:
        if self._graph_handle is not None:
            self._graph_handle.remove()
            self._graph_handle = None

    def _start_watch(self, model: Any, args: Any, state: Any) -> None:
        from .torch import watch

        options = dict(self._watch) if isinstance(self._watch, Mapping) else {}
        options.setdefault("graph", False)  # the graph comes from this callback (graph=)
        self._watched = model
        watcher = watch(model, self.run, **options)
        # watch() counts training forwards: continue from the checkpoint's step on a resume
        watcher.steps = int(state.global_step) * int(getattr(args, "gradient_accumulation_steps", 1))

    def _end(self, status: str) -> None:
        self._training = False
        atexit.unregister(self._at_exit)
        self._remove_graph_hook()
        if self._watched is not None:
            from .torch import unwatch

            unwatch(self._watched)
            self._watched = None
        run, self.run = self.run, None
        if run is None:
            return
        if run is self._user_run:
            self.run = run  # the caller's run: flushed, left open for them to finish
            run.flush()
            return
        run.finish(status)

    def _at_exit(self) -> None:
        """The process ends inside train(): an exception (or Ctrl-C) ended the training."""
        if self._training:
            interrupted = issubclass(getattr(sys, "last_type", type(None)), KeyboardInterrupt)
            self._end("killed" if interrupted else "failed")


__all__ = ["RUN_FILE", "RUN_ID_ENV", "SUMMARY_KEYS", "TrackerCallback", "rewrite_keys"]


def _store_record(location: Any) -> str:
    """Where the run lives, for the checkpoint's record: a file's absolute path, or a server
    URL without its password (the record is a plain file; libpq finds the password again in
    PGPASSWORD or ~/.pgpass, or TRACKER_DB / db= give the URL)."""
    if isinstance(location, ServerURL):
        return without_password(location.conninfo)
    return str(Path(location).resolve())
