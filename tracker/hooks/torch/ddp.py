"""DDP / torchrun: one run per job, other ranks silent or logging into it, metrics averaged.

``init_distributed()`` is ``tracker.init()`` for every rank of a job: rank 0 creates the run; with
``ranks="zero"`` the others get a run that stores nothing, with ``ranks="attach"`` they receive the
run id over the process group and log into the same run with a ``rank{r}/`` key prefix. With
``reduce="mean"`` every ``log()`` is averaged across ranks with one ``all_reduce`` (a collective:
every rank must log the same keys at the same points) and rank 0 stores the mean.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

import tracker

from ...contract import RunLike
from ...graph import Graph
from ...profile import Profile


def _dist_up() -> bool:
    dist = torch.distributed
    return dist.is_available() and dist.is_initialized()


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the world size (process group first, then torchrun's env)."""
    if _dist_up():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return _env_int("RANK", 0), _env_int("WORLD_SIZE", 1)


class DistributedRun:
    """One rank's view of the job's run: key prefix, optional mean across ranks, the rest delegated.

    It implements the run contract (``tracker.contract.RunLike``) member by member, so every hook
    takes it as a run; other attributes of the run (``name``, ``project``, ``config``...) are read
    from the run it wraps.
    """

    def __init__(
        self, run: RunLike, *, rank: int, world_size: int, prefix: str, reduce: str | None
    ) -> None:
        self.run, self.rank, self.world_size = run, rank, world_size
        self.prefix, self.reduce = prefix, reduce
        # A rank that stores nothing still takes part in the mean's collective
        self.disabled = run.disabled and reduce is None

    def __getattr__(self, name: str) -> Any:  # name, project, config, tags, group...
        return getattr(self.run, name)

    # -- the run contract ---------------------------------------------------------------------------
    @property
    def id(self) -> str:
        """The run's id ('' on a rank that stores nothing)."""
        return self.run.id

    @property
    def db_path(self) -> Path:
        """The store the run lives in."""
        return self.run.db_path

    @property
    def step(self) -> int | None:
        """The highest step this rank's run has logged."""
        return self.run.step

    @property
    def finished(self) -> bool:
        """True once the run has finished."""
        return self.run.finished

    @property
    def finishing(self) -> bool:
        """True while the run's ``finish()`` runs its flush hooks."""
        return self.run.finishing

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log (after averaging across ranks when ``reduce='mean'`` and a group is up)."""
        if self.reduce is not None and _dist_up() and self.world_size > 1:
            metrics = _all_reduce_mean(metrics, self.world_size)
            if self.rank != 0:
                return  # every rank holds the same mean now: rank 0 stores it once
        elif self.prefix:
            metrics = {f"{self.prefix}{k}": v for k, v in metrics.items()}
        self.run.log(metrics, step)

    def log_histogram(
        self,
        key: str,
        values: Any,
        step: int | None = None,
        *,
        bins: int = 64,
        wall: float | None = None,
    ) -> None:
        """Log a histogram (key prefixed on ranks > 0 that attach)."""
        self.run.log_histogram(f"{self.prefix}{key}", values, step, bins=bins, wall=wall)

    def log_text(
        self, key: str, text: str, step: int | None = None, *, wall: float | None = None
    ) -> None:
        """Log a text (key prefixed on ranks > 0 that attach)."""
        self.run.log_text(f"{self.prefix}{key}", text, step, wall=wall)

    def log_image(
        self,
        key: str,
        value: Any,
        step: int | None = None,
        caption: str | None = None,
        *,
        wall: float | None = None,
    ) -> None:
        """Log an image (key prefixed on ranks > 0 that attach)."""
        self.run.log_image(f"{self.prefix}{key}", value, step, caption, wall=wall)

    def log_graph(self, graph: Graph) -> None:
        """Store a graph: rank 0 only (every rank has the same model)."""
        if self.rank == 0:
            self.run.log_graph(graph)

    def log_profile(self, profile: Profile) -> None:
        """Store a profile (each rank that logs stores its own)."""
        self.run.log_profile(profile)

    def set_summary(self, **values: Any) -> None:
        """Merge into the run's summary: rank 0 only (it owns the run)."""
        if self.rank == 0:
            self.run.set_summary(**values)

    def update_config(self, values: Any) -> None:
        """Merge top-level keys into the run's config."""
        self.run.update_config(values)

    def add_flush_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` in this rank's run's ``flush()`` and ``finish()``."""
        self.run.add_flush_hook(hook)

    def remove_flush_hook(self, hook: Callable[[], None]) -> None:
        """Stop calling ``hook``."""
        self.run.remove_flush_hook(hook)

    def flush(self) -> bool:
        """Write what this rank buffered; True when it reached the store."""
        return self.run.flush()

    def finish(self, status: str = "finished") -> None:
        """Finish this rank's run (an attached rank only flushes: rank 0 owns the status)."""
        self.run.finish(status)

    def __enter__(self) -> DistributedRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.run.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"<DistributedRun rank {self.rank}/{self.world_size} of {self.run!r}>"


def _all_reduce_mean(metrics: Mapping[str, Any], world_size: int) -> dict[str, torch.Tensor]:
    dist = torch.distributed
    keys = sorted(metrics)  # the same order on every rank
    device = torch.device("cpu")
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    parts = []
    for k in keys:
        v = metrics[k]
        if isinstance(v, torch.Tensor):
            if v.numel() != 1:
                raise ValueError(f"metric {k!r}: expected a single number, got shape {tuple(v.shape)}")
            parts.append(v.detach().reshape(()).to(device=device, dtype=torch.float64))
        else:
            # a fill on the device, not a copy from pageable host memory (which would sync)
            parts.append(torch.full((), float(v), dtype=torch.float64, device=device))
    if not parts:
        return {}
    packed = torch.stack(parts)
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)  # one collective for all keys, no host read
    packed /= world_size
    return {k: packed[i] for i, k in enumerate(keys)}


def init_distributed(
    project: str = "default",
    name: str | None = None,
    config: Any = None,
    *,
    ranks: str = "zero",
    reduce: str | None = None,
    **init_kwargs: Any,
) -> DistributedRun:
    """``tracker.init()`` for every rank of a DDP/torchrun job; one run is created (by rank 0).

    Args:
        ranks: what the ranks other than 0 do. "zero" (as in ``tracker.init``): they get a run
            that stores nothing. "attach": they log into rank 0's run with a ``rank{r}/`` key
            prefix (needs an initialised process group to receive the run id). Here one job
            makes one run, so ``tracker.init``'s "all" (a run per rank) is not offered: for
            that, call ``tracker.init(ranks="all", group=...)`` on every rank.
        reduce: None, or "mean" to average every ``log()`` across ranks before rank 0 stores it.
        init_kwargs: passed to ``tracker.init`` on rank 0 (tags, group, notes, db, strict...).
    """
    if ranks not in ("zero", "attach"):
        raise ValueError(f"ranks must be 'zero' or 'attach', not {ranks!r}")
    if reduce not in (None, "mean"):
        raise ValueError(f"reduce must be None or 'mean', not {reduce!r}")
    rank, world = rank_and_world()
    if ranks == "attach" and world > 1 and not _dist_up():
        raise RuntimeError(
            "init_distributed(ranks='attach') needs a process group: call "
            "torch.distributed.init_process_group() first"
        )
    owner: RunLike | None = None  # the job's run, created by rank 0
    if rank == 0:
        owner = tracker.init(project, name, config, ranks="all", **init_kwargs)
    run: RunLike
    if ranks == "attach" and world > 1:
        box: list[Any] = [(owner.id, str(owner.db_path)) if owner is not None else None]
        torch.distributed.broadcast_object_list(box, src=0)
        run = owner if owner is not None else tracker.attach(box[0][0], db=box[0][1])
    else:
        run = owner if owner is not None else tracker.DisabledRun(project, name)
    prefix = f"rank{rank}/" if ranks == "attach" and rank > 0 else ""
    return DistributedRun(run, rank=rank, world_size=world, prefix=prefix, reduce=reduce)
