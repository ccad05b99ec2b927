"""DDP: a real 2-process gloo group on CPU (two subprocesses set up like torchrun) logs one run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tracker

WORKER = textwrap.dedent(
    """
    import sys
    import torch
    import torch.distributed as dist
    from tracker.hooks.torch import init_distributed, unwatch, watch

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    # One process group, three jobs one after the other (start-up is the slow part here).
    for db, policy, reduce in (
        (sys.argv[1], "zero", None), (sys.argv[2], "attach", None), (sys.argv[3], "zero", "mean")
    ):
        run = init_distributed("ddp", config={"lr": 0.1}, ranks=policy, reduce=reduce, db=db)
        torch.manual_seed(0)
        model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        watch(model, run, log_every=2, histograms=False, activations=False)
        for step in range(4):
            torch.manual_seed(100 + rank)  # different data per rank
            loss = model(torch.randn(8, 4)).pow(2).mean()
            loss.backward()
            opt.step()
            opt.zero_grad()
            run.log({"loss": loss, "rank_value": float(rank)}, step=step)
        unwatch(model)
        run.finish()
        dist.barrier()
    dist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run the worker on 2 ranks (env set up as torchrun does) and return its three stores."""
    tmp = tmp_path_factory.mktemp("ddp")
    script = tmp / "worker.py"
    script.write_text(WORKER)
    dbs = {name: tmp / f"{name}.db" for name in ("zero", "attach", "mean")}
    port = str(_free_port())
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=port, OMP_NUM_THREADS="1",
                   GLOO_SOCKET_IFNAME="lo")
        procs.append(subprocess.Popen(
            [sys.executable, str(script), *(str(dbs[n]) for n in ("zero", "attach", "mean"))],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-3000:]
    finally:  # a hung collective must not leave the ranks running after the test
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return dbs


@pytest.mark.slow
def test_rank_zero_policy_gives_one_run(ddp_dbs) -> None:
    with tracker.open_store(ddp_dbs["zero"]) as store:
        (run,) = store.runs()
        keys = {k.key: k for k in store.keys(run.id)}
    assert run.status == "finished" and run.config == {"lr": 0.1}
    assert run.rank == 0 and run.world_size == 2
    assert keys["loss"].count == 4 and keys["rank_value"].last_value == 0.0
    assert keys["grad_norm/weight"].count == 2  # watch() through the DDP wrapper, rank 0 only
    assert not any(k.startswith("rank1/") for k in keys)


@pytest.mark.slow
def test_attach_policy_logs_other_ranks_into_the_same_run(ddp_dbs) -> None:
    with tracker.open_store(ddp_dbs["attach"]) as store:
        (run,) = store.runs()
        keys = {k.key: k for k in store.keys(run.id)}
        loss0 = store.series(run.id, "loss").values
        loss1 = store.series(run.id, "rank1/loss").values
    assert run.status == "finished"
    assert keys["rank1/rank_value"].last_value == 1.0 and keys["rank_value"].last_value == 0.0
    assert keys["rank1/grad_norm/weight"].count == 2
    assert len(loss0) == len(loss1) == 4 and loss0[0] != loss1[0]


@pytest.mark.slow
def test_reduce_mean_averages_across_ranks(ddp_dbs) -> None:
    with tracker.open_store(ddp_dbs["attach"]) as store:
        run_id = store.runs()[0].id
        loss0, loss1 = store.series(run_id, "loss").values, store.series(run_id, "rank1/loss").values
    with tracker.open_store(ddp_dbs["mean"]) as store:
        (run,) = store.runs()
        mean = store.series(run.id, "loss").values
        rank_value = store.series(run.id, "rank_value").values
        keys = {k.key for k in store.keys(run.id)}
    assert rank_value.tolist() == [0.5] * 4  # (0 + 1) / 2
    # same seeds in both jobs, so the mean is the mean of the attach job's two curves
    assert mean == pytest.approx((loss0 + loss1) / 2, rel=1e-6)
    assert not any(k.startswith("rank1/") for k in keys)


def test_without_a_process_group_it_is_a_plain_run(db_path) -> None:
    from tracker.hooks.torch import init_distributed

    run = init_distributed("single", db=db_path, reduce="mean")
    run.log({"loss": 1.5}, step=0)
    run.finish()
    with tracker.open_store(db_path) as store:
        (info,) = store.runs()
        assert info.last == {"loss": 1.5}
    with pytest.raises(ValueError, match="ranks"):
        init_distributed("x", ranks="every")


def test_attach_without_a_group_says_what_to_do(monkeypatch, db_path) -> None:
    from tracker.hooks.torch import init_distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(RuntimeError, match="init_process_group"):
        init_distributed("x", ranks="attach", db=db_path)
    run = init_distributed("x", db=db_path)  # rank 1 under "zero": stores nothing
    assert run.disabled
    run.log({"loss": 1.0})
    assert not db_path.exists()
