"""A run's row at its start: checking what the caller gave, then creating, resuming or attaching
to it through the store's backend."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import RunNotFoundError
from ..names import new_run_id
from ..store.backend import NewRun, RunStart, WriteBackend
from .config import to_config
from .values import check_utf8

_now = time.time  # a module attribute so tests can freeze the clock


def create(backend: WriteBackend, project: str, name: str | None, config: Any, tags: Any,
           group: str | None, notes: str | None) -> RunStart:
    """Insert a new running run (name defaults to a readable one numbered within the project)."""
    if not isinstance(project, str) or not project.strip():
        raise ValueError(f"project must be a non-empty string, not {project!r}")
    check_utf8(project, f"project {project!r}")
    if name is not None:
        check_utf8(str(name), "run name")
    if group is not None:
        check_utf8(str(group), "group")
    env = os.environ
    return backend.create_run(NewRun(
        id=new_run_id(), project=project, name=None if name is None else str(name), group=group,
        config=to_config(config), tags=check_tags(tags), notes=notes,
        host=socket.gethostname(), pid=os.getpid(), rank=_env_int(env, "RANK"),
        local_rank=_env_int(env, "LOCAL_RANK"), world_size=_env_int(env, "WORLD_SIZE"),
        started=_now(),
    ))


def load(backend: WriteBackend, run_id: str, action: str, db_path: Path) -> RunStart:
    """An existing run's row (to attach to it)."""
    row = backend.load_run(run_id)
    if row is None:
        raise RunNotFoundError(f"cannot {action}: no run with id {run_id!r} in {db_path}")
    return row


def resume(backend: WriteBackend, run_id: str, config: Any, tags: Any, notes: str | None,
           db_path: Path) -> RunStart:
    """Mark a run running again in this process; steps continue after its last scalar step."""
    row = backend.resume_run(run_id, config=to_config(config), tags=check_tags(tags),
                             notes=notes, host=socket.gethostname(), pid=os.getpid(), now=_now())
    if row is None:
        raise RunNotFoundError(f"cannot resume: no run with id {run_id!r} in {db_path}")
    return row


def here() -> tuple[str, int]:
    """This process's host and pid (what a recreated row says)."""
    return socket.gethostname(), os.getpid()


def check_tags(tags: Any) -> list[str]:
    """Tags as a list of non-empty strings (a lone string is one tag)."""
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = [tags]
    out = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise ValueError(f"tags must be non-empty strings, got {tag!r}")
        out.append(check_utf8(tag, f"tag {tag!r}"))
    return out


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    try:
        return int(env[name])
    except (KeyError, ValueError):
        return None
