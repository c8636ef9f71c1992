"""Data-parallel training (core.train.distributed + core.train under DDP), on CPU with 2 gloo processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from core.train import distributed
from core.data.batching import collate, prepare_graphs
from core.data.features import FeatureSpec
from core.model.diffpool import DiffPool, DiffPoolConfig
from core.data.synthetic import make_synthetic_hierarchy
from core.train.settings import TrainSettings
from core.train.loop import fit, train_step

WORLD_SIZE = 2
# DDP all-reduces (sums then divides) gradients in float32 in a different order than autograd
# sums the two losses' gradients; after a few Adam steps the parameters agree to ~1e-7.
ATOL = 1e-5
LR, CLIP, STEPS_SEED = 1e-2, 2.0, 7
SPEC = FeatureSpec("degree", max_degree=6)


def _graphs():
    return make_synthetic_hierarchy(num_graphs=12, seed=3).graphs


def _config(batch_norm: bool) -> DiffPoolConfig:
    return DiffPoolConfig(input_dim=SPEC.dim, num_classes=3, hidden_dim=8, embedding_dim=8, assign_hidden_dim=8,
                          max_nodes=80, assign_ratio=0.1, batch_norm=batch_norm)


def _fixed_batches():
    """Three batches (an odd count: rank 1's second step repeats batch 0 - the padding rule)."""
    prepared = prepare_graphs(_graphs(), SPEC)
    groups = [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9, 10, 11]]
    return [collate([prepared[i] for i in group]) for group in groups]


def _fresh_model() -> DiffPool:
    torch.manual_seed(STEPS_SEED)
    return DiffPool(_config(batch_norm=False))


def _worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    context = distributed.init_from_env(torch.device("cpu"))
    assert context.world_size == world_size and context.rank == rank
    try:
        # 1. fixed batches, DDP, one rank's shard each
        from torch.nn.parallel import DistributedDataParallel

        model = _fresh_model()
        wrapped = DistributedDataParallel(model)
        optimizer = torch.optim.Adam(model.parameters(), lr=LR)
        for batch in distributed.shard(_fixed_batches(), rank, world_size):
            train_step(wrapped, model, optimizer, batch, CLIP)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{out_dir}/steps-rank{rank}.safetensors")

        # 2. the real fit loop under DDP (batch norm on: buffers are synchronised from rank 0)
        graphs = _graphs()
        settings = TrainSettings(dataset="synthetic", epochs=2, batch_size=3, device="cpu", seed=1)
        stops = []
        result = fit(graphs[:8], graphs[8:10], SPEC, _config(batch_norm=True), settings,
                     on_epoch=lambda epoch, metrics: stops.append(epoch) or None, test_graphs=graphs[10:])
        save_file({k: v.contiguous() for k, v in result.model.state_dict().items()},
                  f"{out_dir}/fit-rank{rank}.safetensors")
        Path(f"{out_dir}/fit-rank{rank}.json").write_text(json.dumps(
            {"history": [{k: v for k, v in row.items() if k != "seconds"} for row in result.history],
             "callback_epochs": stops}))
    finally:
        distributed.shutdown()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _single_process_reference() -> dict[str, torch.Tensor]:
    """The same steps in one process: each step averages the losses of the batches both ranks took."""
    torch.set_num_threads(1)
    model = _fresh_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    batches = _fixed_batches()
    per_rank = [distributed.shard(batches, r, WORLD_SIZE) for r in range(WORLD_SIZE)]
    for step in range(len(per_rank[0])):
        optimizer.zero_grad()
        losses = []
        for r in range(WORLD_SIZE):
            batch = per_rank[r][step]
            losses.append(model.loss(model(batch.x, batch.adj, batch.mask), batch.labels))
        (sum(losses) / WORLD_SIZE).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
    return model.state_dict()


def test_shard_pads_so_every_rank_takes_the_same_number_of_steps():
    assert distributed.shard(list(range(5)), 0, 2) == [0, 2, 4]
    assert distributed.shard(list(range(5)), 1, 2) == [1, 3, 0]
    assert distributed.shard(list(range(4)), 1, 1) == [0, 1, 2, 3]
    assert distributed.shard([], 0, 2) == []


@pytest.mark.slow
def test_two_gloo_ranks_match_single_process_gradient_averaging(tmp_path):
    mp.spawn(_worker, args=(WORLD_SIZE, _free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=True)

    reference = _single_process_reference()
    for rank in range(WORLD_SIZE):
        trained = load_file(str(tmp_path / f"steps-rank{rank}.safetensors"))
        assert trained.keys() == reference.keys()
        for name, value in reference.items():
            torch.testing.assert_close(trained[name], value, atol=ATOL, rtol=0, msg=f"{name} on rank {rank}")

    # The fit loop: both ranks end with the same weights (BN buffers included) and the same metrics;
    # the callback runs on rank 0 only.
    fits = [load_file(str(tmp_path / f"fit-rank{rank}.safetensors")) for rank in range(WORLD_SIZE)]
    for name in fits[0]:
        torch.testing.assert_close(fits[1][name], fits[0][name], atol=0, rtol=0, msg=name)
    logs = [json.loads((tmp_path / f"fit-rank{rank}.json").read_text()) for rank in range(WORLD_SIZE)]
    assert logs[0]["history"] == logs[1]["history"]
    assert len(logs[0]["history"]) == 2
    assert logs[0]["callback_epochs"] == [1, 2] and logs[1]["callback_epochs"] == []


@pytest.mark.slow
def test_torchrun_cli_trains_on_two_ranks_and_only_rank_zero_writes(tmp_path):
    """The user's command: ``torchrun --nproc_per_node=2 -m core.train ...`` (gloo on CPU)."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master-port={_free_port()}",
               "-m", "core.train", "--dataset", "synthetic-hierarchy", "--folds", "2", "--epochs", "2",
               "--out", str(out), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "SIGABRT" not in done.stderr and "terminate called" not in done.stderr
    assert done.stdout.count("honest accuracy:") == 1  # rank 0 prints, rank 1 stays quiet
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["synthetic-hierarchy-diffpool.safetensors"]
    card = json.loads((out / "synthetic-hierarchy-diffpool.json").read_text())
    assert card["command"].startswith("torchrun --nproc_per_node=2 -m core.train")
    assert card["machine"]["world_size"] == 2
    assert card["cross_validation"]["folds_completed"] == 2
    assert sorted(p.name for p in (out / "folds").iterdir()) == ["fold-0.json", "fold-1.json"]


def test_single_process_context_is_rank_zero_of_one(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    context = distributed.init_from_env(torch.device("cpu"))
    assert (context.rank, context.world_size, context.is_main, context.is_distributed) == (0, 1, True, False)
    assert distributed.all_reduce_sums([1.5, 2], torch.device("cpu")) == [1.5, 2.0]
    assert distributed.broadcast_flag(False, torch.device("cpu")) is False


def test_shard_of_all_ranks_covers_every_batch():
    batches = list(range(7))
    shards = [distributed.shard(batches, r, 3) for r in range(3)]
    assert {len(s) for s in shards} == {3}
    assert set(sum(shards, [])) == set(batches)
