"""The feature cache: a frozen MobileNetV3 Small trained through the same path as `cnnstudio train`.

A project on a folder of real picture files (written here with Pillow, 10 classes), the
mobilenet-v3-small template (backbone frozen, random weights: the speed does not depend on them)
at --size pixels, augmentation off, run folder, validation every epoch and checkpoints
(core.pipeline.train_project). Measured, in one process:
  R1  a first run (empty feature cache): images/s of epoch 1 (it computes the features) and of
      the later epochs (the head alone, on the cached features);
  R2  a second run on the same backbone (another learning rate): images/s of its first epoch;
  A   a bare PyTorch loop over the full frozen model (uint8 batch -> normalise -> model -> loss ->
      Adam on the trainable parameters), one epoch: what every epoch costs without the cache.
Targets: R1 later epochs >= 10x R1 epoch 1, and R2 epoch 1 >= 10x R1 epoch 1 (it starts at the
cached speed); and against the bare loop A, an epoch of the same frozen network without any cache
(not only against the slow epoch that builds the cache): R1 later epochs >= 10x A, R2 epoch 1 >= 5x A
(it hashes every picture's pixels to find its features), and R1 epoch 1, the epoch that builds the
cache (features of the training and validation pictures, hashed and written to disk), >= 0.3x A
(measured 0.56x at load 5-8, 0.39x at load ~20; computing the features twice would fall below it).
Exits 1 when a target is missed.

    python benchmarks/bench_features.py [--images 1000] [--size 96] [--epochs 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import cnnstudio  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)
from cnnstudio.core.pipeline import open_or_create_project, prepare_data, train_project
from cnnstudio.core.spec import build_model, template
from cnnstudio.core.spec.backbones import Backbone
from cnnstudio.core.spec.layers import Input
from cnnstudio.core.train import AugmentConfig, TrainConfig, configure_threads
from cnnstudio.core.train.step import freeze_frozen_batchnorm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from targets import Targets  # noqa: E402

TARGET = 10.0  # a cached epoch against the epoch that builds the cache, and against a bare epoch
SECOND_VS_BARE = 5.0  # a second run's first epoch (hashes the pictures, reads the cache) / a bare epoch
BUILD_VS_BARE = 0.3  # the epoch that builds the cache / a bare epoch of the same network


def write_pictures(root: Path, images: int, size: int, classes: int = 10) -> Path:
    rng = np.random.default_rng(0)
    for i in range(images):
        c = i % classes
        folder = root / f"class_{c}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 120, (size, size, 3), dtype=np.uint8)
        pixels[..., c % 3] += np.uint8(40 + 12 * c)
        Image.fromarray(pixels).save(folder / f"p{i:05d}.png")
    return root


def frozen_design(size: int):
    spec = template("mobilenet-v3-small")
    spec.layers[0] = Input(size, size, 3, fit="crop")
    spec.layers[1] = Backbone("mobilenet_v3_small", weights="random", train_blocks=0)
    return spec


def bare_loop(spec, X: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    """One epoch over the full frozen model, the plainest way; images per second."""
    torch.manual_seed(0)
    model = build_model(spec, int(y.max()) + 1).train()
    freeze_frozen_batchnorm(model)
    prep = spec.preprocessing()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    xs, ys = torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(y)
    order = torch.randperm(len(ys))
    start = time.perf_counter()
    for lo in range(0, len(ys), batch_size):
        idx = order[lo : lo + batch_size]
        loss = F.cross_entropy(model(prep.normalize(xs[idx])), ys[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return len(ys) / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="pictures in the folder (all splits)")
    parser.add_argument("--size", type=int, default=96, help="the Input's height and width")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    threads = configure_threads()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = write_pictures(Path(tmp) / "pictures", args.images, args.size)
        project = open_or_create_project(data_dir, Path(tmp) / "project")
        spec = frozen_design(args.size)
        data = prepare_data(project, spec)
        n_train = len(data.splits["train"].y)
        print(
            f"Frozen MobileNetV3 Small, {args.size}x{args.size}, {n_train} training pictures "
            f"({args.images} in all), batch {args.batch_size}, {args.epochs} epochs, {threads} threads, "
            f"torch {torch.__version__}"
        )

        def run(lr: float):
            config = TrainConfig(
                epochs=args.epochs,
                batch_size=args.batch_size,
                lr=lr,
                device="cpu",
                augment=AugmentConfig.none(),
            )
            result = train_project(project, spec, config, data=data, evaluate=())
            return [e["images_per_s"] for e in result.history.epochs]

        first = run(1e-3)
        second = run(3e-3)
        split = data.splits["train"]
        bare = [bare_loop(spec, split.X, split.y, args.batch_size) for _ in range(2)]
    r1_first, r1_later = first[0], statistics.median(first[1:])
    r2_first, bare_ips = second[0], statistics.median(bare)
    print(f"  R1 epoch 1 (computes the features)   {r1_first:10,.0f} img/s")
    print(
        f"  R1 later epochs (median)             {r1_later:10,.0f} img/s   (each: {', '.join(f'{v:,.0f}' for v in first[1:])})"
    )
    print(f"  R2 epoch 1 (features from the cache) {r2_first:10,.0f} img/s")
    print(f"  A  bare PyTorch loop, full model     {bare_ips:10,.0f} img/s")
    targets = Targets()
    targets.check("R1 later epochs / R1 epoch 1", r1_later / r1_first, TARGET)
    targets.check("R2 epoch 1 / R1 epoch 1", r2_first / r1_first, TARGET)
    targets.check(
        "R1 later epochs / bare loop (the same frozen network, no cache)", r1_later / bare_ips, TARGET
    )
    targets.check("R2 epoch 1 / bare loop", r2_first / bare_ips, SECOND_VS_BARE)
    targets.check("R1 epoch 1 (builds the cache) / bare loop", r1_first / bare_ips, BUILD_VS_BARE)
    return targets.exit_code()


if __name__ == "__main__":
    sys.exit(main())
