"""The run contract: ``tracker.Run``, the null run and ``DistributedRun`` each offer every member of
``RunLike`` and accept every call its signatures allow (with the same defaults)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.contract import RunLike
from tracker.hooks.torch import DistributedRun

PROPERTIES = sorted(n for n, v in vars(RunLike).items() if isinstance(v, property))
METHODS = sorted(
    n for n, v in vars(RunLike).items()
    if inspect.isfunction(v) and (not n.startswith("_") or n in ("__enter__", "__exit__"))
)


def test_the_contract_has_what_hooks_use() -> None:
    assert PROPERTIES == ["db_path", "disabled", "finished", "finishing", "id", "step"]
    assert METHODS == [
        "__enter__", "__exit__", "add_flush_hook", "finish", "flush", "log", "log_graph",
        "log_histogram", "log_image", "log_profile", "log_text", "remove_flush_hook", "set_summary",
        "update_config",
    ]


def _calls(sig: inspect.Signature) -> list[tuple[list[Any], dict[str, Any]]]:
    """Calls the contract's signature allows: required only, all positional, all by keyword."""
    params = [p for p in sig.parameters.values() if p.name != "self"]
    required = [p.name for p in params if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    keyword_only = {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}
    extra = {"any_key": 1} if any(p.kind is p.VAR_KEYWORD for p in params) else {}
    return [
        (required, extra),
        (positional, {**keyword_only, **extra}),
        ([], {**dict.fromkeys(positional), **keyword_only, **extra}),
    ]


def _check_implements(run: Any) -> None:
    for name in PROPERTIES:
        assert hasattr(run, name), name
    for name in METHODS:
        contract = inspect.signature(getattr(RunLike, name))
        implementation = inspect.signature(getattr(run, name))
        for args, kwargs in _calls(contract):
            implementation.bind(*args, **kwargs)  # raises TypeError on a mismatch
        for param in contract.parameters.values():
            mine = implementation.parameters.get(param.name)
            if param.default is not param.empty and mine is not None:
                assert mine.default == param.default, (name, param.name)


def test_a_run_implements_the_contract(db_path: Path) -> None:
    run = tracker.init("contract", db=db_path)
    _check_implements(run)
    assert isinstance(run.db_path, Path) and run.step is None
    assert (run.disabled, run.finished, run.finishing) == (False, False, False)
    run.finish()


def test_the_null_run_implements_the_contract() -> None:
    run = tracker.DisabledRun("contract")
    _check_implements(run)
    assert run.disabled and run.id == "" and run.step is None


@pytest.mark.parametrize("null", [False, True])
def test_a_distributed_run_implements_the_contract_itself(db_path: Path, null: bool) -> None:
    inner = tracker.DisabledRun("contract") if null else tracker.init("contract", db=db_path)
    run = DistributedRun(inner, rank=0, world_size=1, prefix="", reduce=None)
    _check_implements(run)
    for name in [*PROPERTIES, *METHODS]:  # its own members: nothing goes through __getattr__
        assert any(name in vars(cls) for cls in type(run).__mro__) or name in vars(run), name
    assert (run.id, run.db_path, run.disabled) == (inner.id, inner.db_path, null)
    flushed: list[bool] = []
    run.add_flush_hook(lambda: flushed.append(True))
    with run:
        run.log({"loss": 1.0}, step=7)
        assert run.step == (None if null else 7)
        assert run.flush() and flushed == ([] if null else [True])
    assert run.finished and inner.finished
