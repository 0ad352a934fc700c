"""Predicting a folder of 640x480 JPEGs: the Predictor against a plain Pillow + torch loop.

    python benchmarks/bench_predict.py            # 2,000 pictures (BENCH_FULL=1: 10,000)
    python benchmarks/bench_predict.py --n 10000

The baseline is what a script would do: for each file, open it with Pillow, convert to RGB, resize
to the model's input with BILINEAR, make a tensor, run the model on that one picture. The
Predictor decodes in worker threads (with JPEG draft decoding, see core.dataset.decode_image)
while the model runs on batches. Target: at least 1.5x the baseline's pictures per second.
The gain has two separate sources, reported as separate rows: decoding JPEGs at reduced size (the
same plain loop with Pillow's draft mode, as the app does: "reduced-size decode gain") and the
threads plus batches (the Predictor against that reduced-size plain loop: "parallel gain").
Exit status 1 when the target is missed.
All run in this one process, taking turns on slices of the same files (already in the disk cache).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# isort: off
import cnnstudio  # noqa: F401 - sets OMP_WAIT_POLICY before torch is imported, as in the app
# isort: on

import numpy as np
import torch
from PIL import Image
from targets import Targets, size

from cnnstudio.core.dataset.decode import DRAFT_MARGIN
from cnnstudio.core.export import LoadedModel, Predictor
from cnnstudio.core.spec import build_model, template

TARGET = 1.5


def write_jpegs(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """n 640x480 JPEGs that compress like photos (smooth shapes plus a little noise), not like noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    paths = []
    for i in range(n):
        fx, fy, phase = rng.uniform(0.005, 0.05, 2).tolist() + [rng.uniform(0, 6.3)]
        base = np.stack(
            [np.sin(xx * fx + phase), np.cos(yy * fy + phase), np.sin((xx + yy) * (fx + fy) / 2)], axis=-1
        )
        noise = rng.normal(0, 0.05, (480, 640, 1)).astype(np.float32)
        pixels = ((base * 0.45 + 0.5 + noise).clip(0, 1) * 255).astype(np.uint8)
        path = folder / f"photo_{i:05d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def baseline(
    model: torch.nn.Module, paths: list[Path], height: int, width: int, reduced: bool = False
) -> float:
    """Seconds for a plain loop: one picture decoded, resized and predicted at a time.
    `reduced`: JPEGs decoded at reduced size (Pillow's draft, with the app's margin)."""
    model.eval()
    start = time.perf_counter()
    with torch.inference_mode():
        for path in paths:
            with Image.open(path) as image:
                if reduced:
                    image.draft("RGB", (width * DRAFT_MARGIN, height * DRAFT_MARGIN))
                picture = image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
            x = torch.from_numpy(np.array(picture)).permute(2, 0, 1).float().div(255).unsqueeze(0)
            torch.softmax(model(x), dim=1)
    return time.perf_counter() - start


def predictor_time(predictor: Predictor, paths: list[Path]) -> float:
    start = time.perf_counter()
    result = predictor.predict_paths([str(p) for p in paths])
    elapsed = time.perf_counter() - start
    assert len(result.predictions) == len(paths) and not result.problems
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=size(2_000, 10_000), help="number of pictures")
    parser.add_argument("--template", default="seed", help="model design (default: seed, 64x64)")
    parser.add_argument("--rounds", type=int, default=8, help="turns each way takes (default 8)")
    args = parser.parse_args()

    spec = template(args.template)
    prep = spec.preprocessing()
    model = build_model(spec, 10).eval()
    loaded = LoadedModel(model, prep, [f"class_{i}" for i in range(10)], spec.to_dict(), "benchmark")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"Writing {args.n:,} 640x480 JPEGs...", flush=True)
        paths = write_jpegs(folder, args.n)
        warm = paths[: min(32, len(paths))]
        baseline(model, warm, prep.height, prep.width)
        predictor_time(Predictor(loaded), warm)

        # The three ways take turns on slices of the pictures, so a change in the machine's load
        # (other people's work) falls on all of them alike rather than on whichever ran then.
        seconds = {"plain": 0.0, "reduced": 0.0, "one": 0.0, "fast": 0.0}
        rounds = max(1, min(args.rounds, len(paths)))
        for r in range(rounds):
            part = paths[r::rounds]
            seconds["plain"] += baseline(model, part, prep.height, prep.width)
            seconds["reduced"] += baseline(model, part, prep.height, prep.width, reduced=True)
            seconds["one"] += predictor_time(Predictor(loaded, workers=1), part)
            seconds["fast"] += predictor_time(Predictor(loaded), part)
    plain, reduced, one_thread, fast = (args.n / seconds[k] for k in ("plain", "reduced", "one", "fast"))

    print(f"model: {args.template} ({prep.height}x{prep.width}), {args.n:,} pictures of 640x480")
    print(f"plain Pillow + torch, one at a time : {plain:8.1f} pictures/s")
    print(f"  the same, reduced-size decode     : {reduced:8.1f} pictures/s  ({reduced / plain:.2f}x)")
    print(f"Predictor, 1 decoding thread        : {one_thread:8.1f} pictures/s  ({one_thread / plain:.2f}x)")
    print(f"Predictor (threads + batches)       : {fast:8.1f} pictures/s  ({fast / plain:.2f}x)")
    print(f"reduced-size decode gain (plain loop, draft vs full size): {reduced / plain:.2f}x")
    print(f"parallel gain (Predictor vs the reduced-size plain loop):  {fast / reduced:.2f}x")
    print("Note: measured in one process on a machine whose cores may be shared; numbers are noisy.")
    targets = Targets()
    targets.check("Predictor vs plain Pillow + torch", fast / plain, TARGET)
    return targets.exit_code()


if __name__ == "__main__":
    sys.exit(main())
