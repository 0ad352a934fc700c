"""Distributed data-parallel training (PyTorch DDP), started by torchrun (`torch.distributed.run`).

One process per GPU (NCCL; each uses the GPU of its LOCAL_RANK), or several CPU processes (Gloo).
torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR/PORT in each process;
`from_env()` reads them, `setup()` joins the process group. Then:

- Every process holds the whole decode cache and reads its share of each epoch: the run's seed
  and the epoch number give one permutation (the same in every process, as DistributedSampler's
  set_epoch does), padded by repeating its start to a multiple of the world size, and process r
  takes every world_size-th index from r. Each process trains on `batch_size` images per step,
  so a step sees batch_size x world_size images in all.
- DDP averages the gradients. Batch norm: on GPUs the model's BatchNorm layers become
  SyncBatchNorm (statistics over the whole global batch). On CPUs (Gloo) PyTorch has no
  SyncBatchNorm: each process normalises with its own batch's statistics, and DDP copies rank
  0's running statistics to the others at every step, so every process (and the checkpoint)
  holds the same running mean and variance.
- Epoch metrics are sums and counts all_reduced across processes; validation is split the same
  way and reduced, so every process takes the same early-stopping and best-epoch decisions.
- Only rank 0 writes (run folder, metrics.csv, checkpoints, config.json, state.json) and prints;
  the other processes train without a run folder. Rank 0 makes the run id and broadcasts it.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch

from cnnstudio.core.errors import UserError

# Waiting for rank 0 to check and decode the images can take a while on a large dataset.
SETUP_TIMEOUT = datetime.timedelta(hours=2)


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int

    @property
    def is_rank0(self) -> bool:
        return self.rank == 0

    def to_dict(self) -> dict:
        return {
            "world_size": self.world_size,
            "processes_per_node": self.local_world_size,
            "nodes": max(1, self.world_size // max(1, self.local_world_size)),
            "backend": backend_name(),
        }


_current: DistEnv | None = None
_device = "cpu"


def from_env(environ=None) -> DistEnv | None:
    """The torchrun environment of this process, or None when not started by torchrun (or alone)."""
    environ = os.environ if environ is None else environ
    try:
        world = int(environ.get("WORLD_SIZE", "1"))
        rank = int(environ.get("RANK", "0"))
        local_rank = int(environ.get("LOCAL_RANK", "0"))
        local_world = int(environ.get("LOCAL_WORLD_SIZE", str(world)))
    except ValueError:
        return None
    if world <= 1:
        return None
    return DistEnv(rank, world, local_rank, local_world)


def current() -> DistEnv | None:
    """The distributed run this process takes part in (after `setup`), else None."""
    return _current


def device_name() -> str:
    """The device of this process in a distributed run: "cuda:<LOCAL_RANK>" or "cpu"."""
    return _device


def is_rank0() -> bool:
    return _current is None or _current.is_rank0


def backend_name() -> str:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return str(torch.distributed.get_backend())
    return "nccl" if torch.cuda.is_available() else "gloo"


def processes_backend(nproc: int, device: str = "auto") -> str:
    """The backend `nproc` processes on this computer use ("nccl": one per GPU, else "gloo"), or a
    UserError when they cannot start (more processes than GPUs, or a CUDA device asked of none)."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device in ("auto", "cuda") and gpus:
        if nproc > gpus:
            raise UserError(f"This computer has {gpus} GPUs: use {gpus} processes or fewer (one per GPU).")
        return "nccl"
    if device == "cuda":
        raise UserError(
            "This computer has no CUDA GPU that PyTorch can use. Choose the device 'auto' or 'cpu'."
        )
    return "gloo"


def setup(env: DistEnv, device: str = "auto") -> str:
    """Join the process group (NCCL on GPUs, else Gloo); returns the device name this process uses."""
    global _current, _device
    if not torch.distributed.is_available():
        raise UserError("This PyTorch was built without distributed training.")
    use_gpu = device in ("auto", "cuda") and torch.cuda.is_available()
    if device == "cuda" and not use_gpu:
        raise UserError(
            "This computer has no CUDA GPU that PyTorch can use. Choose the device 'auto' or 'cpu'."
        )
    if use_gpu:
        if env.local_rank >= torch.cuda.device_count():
            raise UserError(
                f"Process {env.local_rank} needs GPU number {env.local_rank}, but this computer has "
                f"{torch.cuda.device_count()}. Start at most one process per GPU."
            )
        torch.cuda.set_device(env.local_rank)
        device, backend = f"cuda:{env.local_rank}", "nccl"
    else:
        device, backend = "cpu", "gloo"
        # The processes on one computer share its cores.
        from cnnstudio.core.train.device import configure_threads, usable_cores

        configure_threads()
        torch.set_num_threads(max(1, usable_cores() // max(1, env.local_world_size)))
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend, timeout=SETUP_TIMEOUT)
    _current, _device = env, device
    return device


def teardown() -> None:
    global _current
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    _current = None


def barrier() -> None:
    if _current is not None:
        torch.distributed.barrier()


def broadcast_object(value):
    """Rank 0's `value`, in every process."""
    if _current is None:
        return value
    box = [value if _current.is_rank0 else None]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def shard_size(n: int, env: DistEnv) -> int:
    """Images per process per epoch: ceil(n / world_size)."""
    return -(-n // env.world_size)


def epoch_order(n: int, seed: int, epoch: int, env: DistEnv) -> torch.Tensor:
    """This process's indices for `epoch`: its share of one seeded permutation of all n images."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    order = torch.randperm(n, generator=g)
    total = shard_size(n, env) * env.world_size
    if total > n:  # pad by repeating the start, so every process does the same number of steps
        order = torch.cat([order, order[: total - n]])
    return order[env.rank : total : env.world_size].clone()


def all_reduce_sums(values: list[float], device: torch.device) -> list[float]:
    """The sums over all processes of `values` (loss sums, counts of correct and seen images)."""
    if _current is None:
        return list(values)
    # float64: counts stay exact and sums of many losses keep their precision
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(tensor)
    return tensor.tolist()


def val_shard(n: int, env: DistEnv) -> slice:
    """This process's contiguous share of the validation images (no padding: sums stay exact)."""
    per = shard_size(n, env)
    lo = min(n, env.rank * per)
    return slice(lo, min(n, lo + per))


def wrap_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The DDP module that trains `model` (which keeps the weights, unprefixed, for checkpoints).

    On GPUs, BatchNorm layers are converted to SyncBatchNorm in place first.
    """
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if converted is not model:  # the model itself was a BatchNorm layer: not a classifier
            raise UserError("This model cannot be trained on several GPUs.")
        return DistributedDataParallel(model, device_ids=[device.index], output_device=device.index)
    return DistributedDataParallel(model)


def describe(env: DistEnv, batch_size: int) -> dict:
    """What config.json records about a distributed run."""
    return {
        **env.to_dict(),
        "batch_size_per_process": int(batch_size),
        "batch_size_total": int(batch_size) * env.world_size,
    }
