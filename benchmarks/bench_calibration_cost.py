"""What calibrating a run costs, for every template and for the beginner's Flatten->Dense design.

Issue 22: a Conv, Pool, Conv, Pool, Flatten, Dense design (12,544 features into its last layer) once
took 5 min 30 s and 8.4 GB to calibrate and wrote an 840 MB calibration.json. Here each design is
calibrated by the app's own call (core.trust.fit_trust: temperature, kNN bank, threshold) on 5,000
pictures (4,000 training, 1,000 validation; 10 classes; random weights and pixels: the cost does not
depend on what the model learnt), each in a fresh process so that its peak memory is its own:

- time: fit_trust's wall time, and its own work beyond the forward passes it must make (a bare
  `torch.inference_mode()` pass over the same bank and validation pictures, in NCHW, timed in the
  same process; the app feeds them channels-last, faster on the CPU, so "own" may read 0);
- extra memory: the process's peak resident memory after fitting minus its peak before (after the
  data is made and the bare pass has run, so the model's own working memory is already counted);
- stored: calibration.json + trust.safetensors written to a run folder.

Targets (issue 22): extra memory <= 500 MB, stored <= 10 MB, and time <= 10 s; for the pre-trained
backbones at 224x224 the forward passes alone take longer than that on 2 cores (one pass over 3,048
pictures), so there the target is on calibration's own work, and the wall time is printed beside it.

    python benchmarks/bench_calibration_cost.py            # quick: small designs + MobileNetV3
    BENCH_FULL=1 python benchmarks/bench_calibration_cost.py   # every template
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from targets import Targets, size

PICTURES = 5000
VAL = 1000
SMALL = ["seed", "tiny", "small-vgg", "flatten-dense"]
BACKBONES = size(["mobilenet-v3-small"], ["mobilenet-v3-small", "efficientnet-b0", "resnet18"])
MAX_SECONDS = 10.0
MAX_EXTRA_MB = 500.0
MAX_STORED_MB = 10.0


def flatten_dense_spec():
    """Conv, Pool, Conv, Pool, Flatten, Dense(classes) on 56x56 grey pictures: 64 x 14 x 14 = 12,544."""
    from cnnstudio.core.spec import ModelSpec

    conv = {"type": "Conv2D", "kernel_size": 3, "padding": "same", "activation": "relu"}
    return ModelSpec.from_dict(
        {
            "schema_version": 1,
            "name": "flatten-dense",
            "layers": [
                {"type": "Input", "height": 56, "width": 56, "channels": 1, "fit": "stretch"},
                {**conv, "filters": 32},
                {"type": "MaxPooling2D", "pool_size": 2},
                {**conv, "filters": 64},
                {"type": "MaxPooling2D", "pool_size": 2},
                {"type": "Flatten"},
                {"type": "Dense", "units": "auto", "activation": "softmax"},
            ],
        }
    )


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def measure_one(name: str) -> dict:
    """In this (fresh) process: calibrate design `name` on 5,000 pictures and measure it."""
    # isort: off
    import cnnstudio  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)

    # isort: on
    import numpy as np
    import torch

    from cnnstudio.core.spec import build_model, template
    from cnnstudio.core.trust.fit import bank_rows, fit_trust

    torch.manual_seed(0)
    spec = flatten_dense_spec() if name == "flatten-dense" else template(name)
    prep = spec.preprocessing()
    model = build_model(spec, 10).eval()
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(PICTURES, prep.num_channels, prep.height, prep.width), dtype=np.uint8)
    y = rng.integers(0, 10, size=PICTURES)
    X_train, X_val, y_train, y_val = X[VAL:], X[:VAL], y[VAL:], y[:VAL]

    start = time.perf_counter()
    with torch.inference_mode():
        for part in (X_train[bank_rows(len(X_train))], X_val):
            for i in range(0, len(part), 256):
                model(prep.normalize(torch.from_numpy(part[i : i + 256])))
    forward = time.perf_counter() - start

    before = peak_mb()
    start = time.perf_counter()
    cal = fit_trust(model, prep, X_train, y_train, X_val, y_val)
    seconds = time.perf_counter() - start
    extra = peak_mb() - before
    with tempfile.TemporaryDirectory() as folder:
        cal.save(folder)
        stored = sum(p.stat().st_size for p in Path(folder).iterdir())
    return {
        "design": name,
        "input": f"{prep.height}x{prep.width}x{prep.num_channels}",
        "features": cal.unknown.in_width,
        "kept": cal.unknown.width,
        "seconds": seconds,
        "forward": forward,
        "own": max(0.0, seconds - forward),
        "extra_mb": extra,
        "stored_mb": stored / 2**20,
    }


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(measure_one(sys.argv[2])))
        return 0
    import platform

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    print(f"CPU: {cpu}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {PICTURES:,} pictures")
    targets = Targets()
    header = f"{'design':<20}{'input':>10}{'features':>10}{'kept':>6}{'fit s':>8}{'bare fwd s':>11}{'own s':>7}{'extra MB':>10}{'stored MB':>10}"
    print(header)
    rows = []
    for name in SMALL + BACKBONES:
        done = subprocess.run(
            [sys.executable, __file__, "--one", name], capture_output=True, text=True, timeout=1800
        )
        if done.returncode != 0:
            print(done.stderr[-2000:])
            targets.check(f"{name}: calibrated", 0.0, 1.0)
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(
            f"{r['design']:<20}{r['input']:>10}{r['features']:>10,}{r['kept']:>6}{r['seconds']:>8.1f}"
            f"{r['forward']:>11.1f}{r['own']:>7.1f}{r['extra_mb']:>10.0f}{r['stored_mb']:>10.2f}",
            flush=True,
        )
    for r in rows:
        name = r["design"]
        if name in SMALL:
            targets.check(f"{name}: seconds to calibrate", r["seconds"], MAX_SECONDS, at_most=True, unit=" s")
        else:
            targets.check(
                f"{name}: seconds of calibration's own work (beyond its forward passes)",
                r["own"],
                MAX_SECONDS,
                at_most=True,
                unit=" s",
            )
        targets.check(f"{name}: extra memory", r["extra_mb"], MAX_EXTRA_MB, at_most=True, unit=" MB")
        targets.check(f"{name}: stored", r["stored_mb"], MAX_STORED_MB, at_most=True, unit=" MB")
    return targets.exit_code()


if __name__ == "__main__":
    sys.exit(main())
