"""Trainer.fit against a bare PyTorch loop over the same cached uint8 tensors (one process).

Seed CNN (template "seed"), random-but-fixed 64x64x3 uint8 images (1,000 by default: short epochs
measured many times, interleaved, hold up better on a shared machine than a few long ones),
10 classes, batch 32, Adam, one epoch per measurement. Measured: images per second of
  A  the bare loop: x[idx].float() / 255 -> model -> cross-entropy -> Adam, nothing else;
  B  Trainer.fit, precision "full", no augmentation;
  C  Trainer.fit, precision "full", default augmentation;
  D  what `cnnstudio train` does (the user's path): Trainer.fit with a run folder (config.json,
     state.json, checkpoints each epoch, metrics.csv), the CLI's TerminalProgress callback, default
     augmentation and validation on 200 more pictures after the epoch. Images/s counts the training
     pictures; the validation pass, the writes and the callback are part of the time.
Targets: B/A >= 0.95, C/A >= 0.8, D/A >= 0.7. Exit status 1 when one is missed. The runs are interleaved (A B C A B C ...) after a warm-up;
the ratios are medians of the ratios of adjacent runs, because the machine is shared and the
numbers are noisy.

    python benchmarks/bench_train.py [--images 1000] [--repeats 5]    (BENCH_FULL=1: --repeats 9)
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from targets import Targets, size

import cnnstudio  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)
from cnnstudio.core.spec import build_model, template
from cnnstudio.core.train import AugmentConfig, TrainConfig, Trainer, configure_threads
from cnnstudio.core.train.memory_format import use_channels_last

CLASSES = [f"c{i}" for i in range(10)]


def fixed_data(n: int, size: int = 64, classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
    y = rng.integers(0, classes, n).astype(np.int64)
    return X, y


def bare_loop(
    spec, X: np.ndarray, y: np.ndarray, batch_size: int = 32, layout: str = "nchw", bf16: bool = False
):
    """One epoch of the plainest loop over the cached tensors; returns images per second.

    layout: "nchw"; "nhwc" (model and batch channels_last); "mixed" (the trainer's bf16 layout:
    NHWC except the first convolution, batch NCHW).
    """
    torch.manual_seed(0)
    model = build_model(spec, int(y.max()) + 1).train()
    if layout == "nhwc":
        model = model.to(memory_format=torch.channels_last)
    elif layout == "mixed":
        use_channels_last(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    xs, ys = torch.from_numpy(X), torch.from_numpy(y)
    order = torch.randperm(len(ys))
    start = time.perf_counter()
    for lo in range(0, len(ys), batch_size):
        idx = order[lo : lo + batch_size]
        x = xs[idx].float() / 255
        if layout == "nhwc":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), ys[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return len(ys) / (time.perf_counter() - start)


def trainer_epoch(
    spec, X, y, precision: str = "full", augment: AugmentConfig | None = None, batch_size: int = 32
):
    """One epoch of Trainer.fit (no run folder, no validation); returns images per second."""
    config = TrainConfig(
        epochs=1,
        batch_size=batch_size,
        device="cpu",
        precision=precision,
        augment=augment or AugmentConfig.none(),
    )
    trainer = Trainer(
        spec, config, class_names=CLASSES[: int(y.max()) + 1], preprocessing=spec.preprocessing()
    )
    start = time.perf_counter()
    trainer.fit((X, y))
    return len(y) / (time.perf_counter() - start)


def user_path_epoch(spec, X, y, X_val, y_val, batch_size: int = 32):
    """One epoch as `cnnstudio train` runs it (run folder, checkpoints, metrics.csv, validation,
    TerminalProgress, default augmentation); returns training images per second."""
    from cnnstudio.cli.progress import TerminalProgress
    from cnnstudio.core.runs import new_run_dir

    config = TrainConfig(epochs=1, batch_size=batch_size, device="cpu", precision="full")
    with tempfile.TemporaryDirectory(prefix="cnnstudio-bench-train-") as tmp:
        trainer = Trainer(
            spec,
            config,
            class_names=CLASSES[: int(y.max()) + 1],
            preprocessing=spec.preprocessing(),
            run_dir=new_run_dir(Path(tmp), "bench"),
            callbacks=[TerminalProgress(1, stream=io.StringIO())],
        )
        start = time.perf_counter()
        trainer.fit((X, y), (X_val, y_val))
        elapsed = time.perf_counter() - start
        assert (trainer.run_dir / "metrics.csv").exists()
    return len(y) / elapsed


def interleaved(runs: dict, repeats: int) -> dict[str, list[float]]:
    """Images/s of each run, measured A B C A B C ... after one warm-up of each; prints medians."""
    results: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()  # warm-up: allocator, oneDNN kernels
    for _ in range(repeats):
        for name, run in runs.items():
            results[name].append(run())
    for name, values in results.items():
        runs_text = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {name:<36} median {statistics.median(values):7.1f} img/s  (runs: {runs_text})")
    return results


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median of the ratios of runs measured next to each other: load changes on a shared machine
    hit both runs of a pair alike, so this is steadier than the ratio of the medians."""
    return statistics.median(n / d for n, d in zip(numerator, denominator, strict=True))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="images in each measured epoch")
    parser.add_argument("--repeats", type=int, default=size(5, 9))
    args = parser.parse_args(argv)
    threads = configure_threads()
    spec = template("seed")
    X, y = fixed_data(args.images)
    X_val, y_val = fixed_data(200, seed=1)
    print(
        f"Seed CNN, {args.images} images 64x64x3 an epoch, batch 32, {threads} threads, torch {torch.__version__}"
    )
    print("Shared machine: numbers are noisy; interleaved runs, medians, ratios of adjacent runs.")
    results = interleaved(
        {
            "A bare loop (float32)": lambda: bare_loop(spec, X, y),
            "B Trainer.fit full, no augment": lambda: trainer_epoch(spec, X, y),
            "C Trainer.fit full, default augment": lambda: trainer_epoch(
                spec, X, y, augment=AugmentConfig.default()
            ),
            "D cnnstudio train path (+val, files)": lambda: user_path_epoch(spec, X, y, X_val, y_val),
        },
        args.repeats,
    )
    a, b, c, d = results.values()
    targets = Targets()
    targets.check("B/A Trainer.fit, stripped", paired_ratio(b, a), 0.95)
    targets.check("C/A Trainer.fit, default augmentation", paired_ratio(c, a), 0.8)
    targets.check("D/A the user's path (cnnstudio train)", paired_ratio(d, a), 0.7)
    return targets.exit_code()


if __name__ == "__main__":
    sys.exit(main())
