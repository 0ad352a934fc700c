"""Distributed data-parallel training (core/train/distributed.py) with the world size as a parameter.

Each world size starts that many processes (torch.multiprocessing, the environment torchrun would
set, Gloo on the CPU, NCCL on GPUs) that run Trainer.fit on the same fixed uint8 images, each on its
share of every epoch. Measured, per world size:
  A  a bare PyTorch DDP loop (x[idx].float()/255 -> model -> cross-entropy -> Adam, DDP-wrapped
     when world > 1), images per second over all processes;
  B  Trainer.fit (precision "full", no augmentation), images per second over all processes;
and the scaling efficiency ips(N) / (N x ips(1)) of both. On this 2-core CPU two processes cannot
be faster than one (the CPU case checks correctness); on a machine with CUDA the world sizes are 1
GPU and every GPU present.

The step check (a gate a DDP without averaging fails): one Trainer step (SGD, precision "full", TF32
off) on one global batch, by 1 process and by N processes each holding its share; every process must
hold identical weights, and they must match the single process's: the difference, as a share of how
far the step moved the weights, at most 1e-3 (float rounding measures about 1e-7; a DDP that sums
instead of averaging is off by N - 1, one that does not communicate by about 1).
`--break-averaging sum|alone` plants those faults to show the gate catching them.

Throughput targets: Trainer.fit at least 0.75x the bare DDP loop at every world size; with CUDA and
several GPUs also a scaling efficiency (Trainer) of at least 0.7. (Two CPU processes on 2 cores
cannot scale, so the CPU has no scaling target.)

Then the accuracy check: the same learnable data (faint coloured patterns under noise), trained for
6 epochs with the same global batch (32 = 32 x 1 process = 16 x 2 processes), with 1 and with 2
processes, 3 seeds each; the mean validation accuracies must agree within noise: 2.5 standard
errors of the difference of the means (seed to seed), at least `--tolerance` (0.03). Missing it
exits non-zero.

    python benchmarks/bench_ddp.py [--world-sizes 1,2] [--images 1024] [--epochs 3] [--skip-accuracy]
                                   [--step-only] [--break-averaging sum|alone]

With CUDA: python benchmarks/bench_ddp.py (world sizes 1 and every GPU, NCCL).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

import cnnstudio  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from targets import Targets  # noqa: E402

STEP_TOLERANCE = 1e-3  # the step check: |w_N - w_1| / |w_1 - w_0| at most this
TRAINER_VS_BARE = 0.75
GPU_SCALING = 0.7

SIGNAL = float(os.environ.get("BENCH_DDP_SIGNAL", "0.1"))  # faint patterns: accuracy well below 100%


SEEDS = (0, 1, 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def throughput_data(n: int, size: int, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8), rng.integers(0, classes, n).astype(
        np.int64
    )


def learnable_data(n: int, size: int, classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class c: a colour gradient in direction c, plus heavy noise (learnable, not trivially)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n).astype(np.int64)
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    bases = []
    for c in range(classes):
        g = ramp[None, :] if c % 2 == 0 else ramp[:, None]
        g = np.broadcast_to(g, (size, size))
        g = g if c < 2 else 1 - g
        bases.append(np.stack([g, 1 - g, np.full_like(g, c / classes)]))
    signal = 0.5 + SIGNAL * (np.stack([bases[c] for c in y]) - 0.5)
    X = signal + rng.normal(0, 0.25, (n, 3, size, size)).astype(np.float32)
    return (np.clip(X, 0, 1) * 255).astype(np.uint8), y


def worker(rank: int, world: int, port: int, job: dict, out_dir: str) -> None:
    from cnnstudio.core.spec import template
    from cnnstudio.core.train import TrainConfig, Trainer, distributed
    from cnnstudio.core.train.config import AugmentConfig

    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(rank),
            "LOCAL_WORLD_SIZE": str(world),
        }
    )
    env = distributed.from_env()
    device = distributed.setup(env, job["device"]) if env else job["device"]
    try:
        if job["kind"] == "step":
            step_check(env, device, job, out_dir)
            return
        spec = template(job["template"])
        prep = spec.preprocessing()
        if job["kind"] == "accuracy":
            X, y = learnable_data(job["images"], prep.height)
            Xv, yv = learnable_data(job["val"], prep.height, seed=1)
        else:
            X, y = throughput_data(job["images"], prep.height)
            Xv = yv = None
        classes = [f"c{i}" for i in range(int(y.max()) + 1)]
        result: dict = {}
        if job["kind"] == "throughput":
            result["bare"] = bare_ddp(spec, X, y, job["batch"], job["epochs"], torch.device(device), env)
        config = TrainConfig(
            batch_size=job["batch"],
            epochs=job["epochs"],
            seed=job["seed"],
            device=device if env is None else "auto",
            precision="full",
            augment=AugmentConfig.none(),
            early_stopping=False,
        )
        trainer = Trainer(spec, config, class_names=classes, preprocessing=prep)
        history = trainer.fit((X, y), (Xv, yv) if Xv is not None else None)
        speeds = [e["images_per_s"] for e in history.epochs[1:]] or [history.epochs[0]["images_per_s"]]
        result["trainer"] = statistics.median(speeds)
        result["val_accuracy"] = history.epochs[-1]["val_accuracy"]
        if distributed.is_rank0():
            with open(os.path.join(out_dir, "result.json"), "w") as f:
                json.dump(result, f)
        distributed.barrier()  # leave the group together, as the app does (else Gloo may abort one)
    finally:
        if env:
            distributed.teardown()


def _sum_hook(_state, bucket):
    """A broken DDP: all-reduce without dividing by the world size."""
    work = torch.distributed.all_reduce(bucket.buffer(), async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])


def _alone_hook(_state, bucket):
    """A broken DDP: no communication, each process steps on its own share."""
    fut = torch.futures.Future()
    fut.set_result(bucket.buffer())
    return fut


def step_check(env, device: str, job: dict, out_dir: str) -> None:
    """One Trainer step on one global batch (this process's share of it); every process saves its
    weights before and after as step<rank>.npz."""
    from cnnstudio.core.spec import template
    from cnnstudio.core.train import TrainConfig, Trainer, distributed
    from cnnstudio.core.train.config import AugmentConfig

    torch.backends.cuda.matmul.allow_tf32 = False  # float32 as float32: rounding is all that may differ
    torch.backends.cudnn.allow_tf32 = False
    if env and job.get("break"):
        real, hook = distributed.wrap_model, {"sum": _sum_hook, "alone": _alone_hook}[job["break"]]

        def broken(model, dev):
            ddp = real(model, dev)
            ddp.register_comm_hook(None, hook)
            return ddp

        distributed.wrap_model = broken
    spec = template(job["template"])
    prep = spec.preprocessing()
    X, y = throughput_data(job["images"], prep.height)
    world = env.world_size if env else 1
    config = TrainConfig(
        optimizer="sgd",
        lr=0.05,
        momentum=0.0,
        batch_size=job["images"] // world,
        epochs=1,
        seed=0,
        device=device if env is None else "auto",
        precision="full",
        augment=AugmentConfig.none(),
        early_stopping=False,
    )
    classes = [f"c{i}" for i in range(int(y.max()) + 1)]
    trainer = Trainer(spec, config, class_names=classes, preprocessing=prep)

    def weights() -> dict:
        return {k: v.detach().cpu().numpy().copy() for k, v in trainer.model.state_dict().items()}

    before = weights()
    trainer.fit((X, y))
    after = weights()
    rank = env.rank if env else 0
    np.savez(os.path.join(out_dir, f"step{rank}.npz"), **{f"before.{k}": v for k, v in before.items()},
             **{f"after.{k}": v for k, v in after.items()})  # fmt: skip
    if rank == 0:
        with open(os.path.join(out_dir, "result.json"), "w") as f:
            json.dump({}, f)


def step_weights(world: int, job: dict) -> list[dict[str, np.ndarray]]:
    """Each process's weights ("before.*", "after.*") after the step check with `world` processes."""
    with tempfile.TemporaryDirectory() as out_dir:
        _launch(world, job, out_dir)
        out = []
        for rank in range(world):
            with np.load(os.path.join(out_dir, f"step{rank}.npz")) as data:
                out.append({k: data[k] for k in data.files})
        return out


def step_error(single: dict, other: dict) -> float:
    """|w_other - w_single| / |w_single - w_before| over all weights after the step."""
    keys = [k for k in single if k.startswith("after.")]
    moved = sum(float(np.sum((single[k] - single["before." + k[6:]]) ** 2)) for k in keys) ** 0.5
    apart = sum(float(np.sum((single[k].astype(np.float64) - other[k]) ** 2)) for k in keys) ** 0.5
    return apart / moved


def bare_ddp(spec, X, y, batch: int, epochs: int, device: torch.device, env) -> float:
    """The plainest DDP loop over this process's share; images per second over all processes."""
    from cnnstudio.core.spec import build_model
    from cnnstudio.core.train import distributed

    torch.manual_seed(0)
    model = build_model(spec, int(y.max()) + 1).to(device).train()
    net = distributed.wrap_model(model, device) if env else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    xs, ys = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    speeds = []
    for epoch in range(epochs):
        order = distributed.epoch_order(len(ys), 0, epoch, env) if env else torch.randperm(len(ys))
        order = order.to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        seen = 0
        for lo in range(0, len(order) - batch + 1, batch):
            idx = order[lo : lo + batch]
            loss = torch.nn.functional.cross_entropy(net(xs[idx].float() / 255), ys[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(idx)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = torch.tensor([time.perf_counter() - start], dtype=torch.float64, device=device)
        if env:  # the slowest process sets the pace
            torch.distributed.all_reduce(seconds, op=torch.distributed.ReduceOp.MAX)
        speeds.append(seen * (env.world_size if env else 1) / float(seconds.item()))
    return statistics.median(speeds[1:] or speeds)


def _launch(world: int, job: dict, out_dir: str) -> None:
    if world == 1:
        worker(0, 1, 0, job, out_dir)
    else:
        torch.multiprocessing.spawn(worker, args=(world, free_port(), job, out_dir), nprocs=world, join=True)


def run_world(world: int, job: dict) -> dict:
    with tempfile.TemporaryDirectory() as out_dir:
        _launch(world, job, out_dir)
        with open(os.path.join(out_dir, "result.json")) as f:
            return json.load(f)


def check_steps(worlds: list[int], args, device: str, targets: Targets) -> None:
    """The step gate: N processes hold identical weights that match one process's on the same global
    batch."""
    many = [w for w in worlds if w > 1]
    if not many:
        return
    job = {"kind": "step", "template": args.template, "device": device, "break": args.break_averaging}
    job["images"] = args.batch * max(many)  # one global batch, the same for every world size
    single = step_weights(1, job)[0]
    for world in many:
        if job["images"] % world:
            print(f"Step check: {job['images']} pictures do not split over {world} processes; skipped")
            continue
        ranks = step_weights(world, job)
        spread = max(
            float(np.max(np.abs(r[k] - ranks[0][k]))) for r in ranks[1:] for k in r if k.startswith("after.")
        )
        print(f"Step check, {world} processes, global batch {job['images']}: largest weight difference "
              f"between processes {spread:.2g}", flush=True)  # fmt: skip
        targets.check(
            f"{world} processes: weights differ between processes", spread, 0.0, at_most=True, unit=""
        )
        error = step_error(single, ranks[0])
        print(f"Step check, {world} processes vs 1: step difference / step size {error:.2g}", flush=True)
        targets.check(
            f"{world} processes vs 1 on the same global batch: step difference / step size",
            error,
            STEP_TOLERANCE,
            at_most=True,
            unit="",
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world-sizes", default=None, help="comma-separated (default 1,2; GPUs: 1,all)")
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32, help="per process, for the throughput part")
    parser.add_argument("--template", default="seed")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--tolerance", type=float, default=0.03, help="the smallest allowed difference")
    parser.add_argument("--step-only", action="store_true", help="only the step check")
    parser.add_argument(
        "--break-averaging",
        choices=("sum", "alone"),
        default=None,
        help="plant a fault in DDP (sum without averaging, or no communication) to see the step gate fail",
    )
    args = parser.parse_args()
    targets = Targets()
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    device = "cuda" if gpus else "cpu"
    if args.world_sizes:
        worlds = [int(w) for w in args.world_sizes.split(",")]
    else:
        worlds = sorted({1, gpus}) if gpus else [1, 2]
    what = f"{gpus} GPU(s) ({torch.cuda.get_device_name(0)})" if gpus else f"CPU, {os.cpu_count()} cores"
    print(f"Device: {what}; template {args.template}, {args.images} images, batch {args.batch} per process")
    if any(w > 1 for w in worlds) and 1 not in worlds:
        worlds = [1, *worlds]  # the step check and the scaling need one process to compare with
    check_steps(worlds, args, device, targets)
    if args.step_only:
        return targets.exit_code()
    base: dict | None = None
    print(
        f"{'processes':>9} {'bare DDP img/s':>15} {'trainer img/s':>14} {'trainer/bare':>13} "
        f"{'scaling (bare)':>15} {'scaling (trainer)':>18}"
    )
    results: dict[int, dict] = {}
    for world in worlds:
        job = {
            "kind": "throughput",
            "template": args.template,
            "images": args.images,
            "batch": args.batch,
            "epochs": args.epochs,
            "seed": 0,
            "device": device,
        }
        r = run_world(world, job)
        base = base or (r if world == 1 else None)
        if base is not None:
            eff_bare = r["bare"] / (world * base["bare"])
            eff_trainer = r["trainer"] / (world * base["trainer"])
            eff = f"{eff_bare:>15.2f} {eff_trainer:>18.2f}"
        else:
            eff = f"{'-':>15} {'-':>18}"
        print(f"{world:>9} {r['bare']:>15.0f} {r['trainer']:>14.0f} {r['trainer'] / r['bare']:>13.2f} {eff}")
        results[world] = r
    for world, r in results.items():
        targets.check(
            f"{world} process(es): Trainer / bare DDP loop", r["trainer"] / r["bare"], TRAINER_VS_BARE
        )
        if device == "cuda" and world > 1 and base is not None:
            scaling = r["trainer"] / (world * base["trainer"])
            targets.check(f"{world} GPUs: scaling efficiency (Trainer)", scaling, GPU_SCALING)
    if args.skip_accuracy:
        return targets.exit_code()
    acc_device = "cuda" if gpus >= 2 else "cpu"  # 2 processes need 2 GPUs (NCCL), else the CPU (Gloo)
    acc: dict[int, list[float]] = {1: [], 2: []}
    for world, batch in ((1, 32), (2, 16)):
        for seed in SEEDS:
            job = {
                "kind": "accuracy",
                "template": "tiny",
                "images": 2400,
                "val": 600,
                "batch": batch,
                "epochs": 6,
                "seed": seed,
                "device": acc_device,
            }
            acc[world].append(run_world(world, job)["val_accuracy"])
    m1, m2 = statistics.mean(acc[1]), statistics.mean(acc[2])
    noise = (statistics.variance(acc[1]) / len(SEEDS) + statistics.variance(acc[2]) / len(SEEDS)) ** 0.5
    allowed = max(args.tolerance, 2.5 * noise)
    ok = abs(m2 - m1) <= allowed
    print(
        "Validation accuracy (tiny, 2400 images, 6 epochs, global batch 32, seeds "
        f"{', '.join(map(str, SEEDS))}): 1 process {' '.join(f'{a:.3f}' for a in acc[1])} (mean {m1:.3f}); "
        f"2 processes {' '.join(f'{a:.3f}' for a in acc[2])} (mean {m2:.3f})"
    )
    print(
        f"Difference of the means {abs(m2 - m1):.3f}; allowed {allowed:.3f} "
        f"(2.5 standard errors of the difference, at least {args.tolerance}) {'OK' if ok else 'MISSED'}"
    )
    if not ok:
        targets.missed.append("accuracy, 1 vs 2 processes")
    return targets.exit_code()


if __name__ == "__main__":
    sys.exit(main())
