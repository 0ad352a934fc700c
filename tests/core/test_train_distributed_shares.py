"""core/train/distributed.py without a process group: the torchrun environment and each process's share."""

from __future__ import annotations

import torch

from cnnstudio.core.train import distributed
from cnnstudio.core.train.distributed import DistEnv


def test_the_torchrun_environment_is_read_and_one_process_is_not_distributed():
    env = distributed.from_env({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert env == DistEnv(rank=3, world_size=8, local_rank=1, local_world_size=2)
    assert not env.is_rank0
    assert distributed.from_env({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}) is None
    assert distributed.from_env({}) is None
    assert distributed.current() is None and distributed.is_rank0()  # no group in this process


def test_the_shares_cover_every_image_once_per_epoch_and_reshuffle():
    n, world = 23, 3
    envs = [DistEnv(r, world, r, world) for r in range(world)]
    shares = [distributed.epoch_order(n, seed=5, epoch=0, env=e) for e in envs]
    assert {len(s) for s in shares} == {distributed.shard_size(n, envs[0])} == {8}  # same steps everywhere
    together = torch.cat(shares)
    assert sorted(set(together.tolist())) == list(range(n))  # all images
    assert len(together) - n == 1  # padded by one repeat to 24 = 8 x 3
    again = [distributed.epoch_order(n, seed=5, epoch=0, env=e) for e in envs]
    assert all(torch.equal(a, b) for a, b in zip(shares, again, strict=True))  # the seed decides
    next_epoch = distributed.epoch_order(n, seed=5, epoch=1, env=envs[0])
    assert not torch.equal(next_epoch, shares[0])
    other_seed = distributed.epoch_order(n, seed=6, epoch=0, env=envs[0])
    assert not torch.equal(other_seed, shares[0])


def test_validation_shares_are_contiguous_and_exact():
    n, world = 7, 3
    parts = [distributed.val_shard(n, DistEnv(r, world, r, world)) for r in range(world)]
    assert [list(range(n))[p] for p in parts] == [[0, 1, 2], [3, 4, 5], [6]]
    # more processes than images: some validate nothing, none twice
    parts = [distributed.val_shard(2, DistEnv(r, 4, r, 4)) for r in range(4)]
    assert sum(len(range(2)[p]) for p in parts) == 2


def test_config_records_batch_sizes_per_process_and_in_all():
    info = distributed.describe(DistEnv(0, 8, 0, 4), batch_size=32)
    assert info["world_size"] == 8 and info["nodes"] == 2 and info["processes_per_node"] == 4
    assert info["batch_size_per_process"] == 32 and info["batch_size_total"] == 256
