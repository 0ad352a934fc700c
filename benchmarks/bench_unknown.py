"""Unknown pictures: which post-hoc score tells pictures unlike the training ones apart, measured.

Trains the Seed CNN (the demo's model) on scikit-learn's handwritten digits (1,797 real 8x8 scans,
written at 32x32 as the demo does, then decoded to 64x64 by the app's own decode_image), split
60/20/20. The calibration (temperature, kNN bank, threshold) is fitted as after every training run.
Then every score is computed on the held-out test digits (in-distribution) and on pictures from
other sources, built here offline:

  far:  photos   random crops of scikit-learn's two photographs (china.jpg, flower.jpg)
        noise    uniform and Gaussian noise, colour and grey
        flat     blank black/white pictures and flat colours
        shapes   circles, rectangles, lines and triangles drawn with Pillow
  near: letters  A-Z rendered with Pillow's font, white on black, 8x8 with 17 grey levels like the digits
        digits2  the digits 0-9 rendered from a font (another digit style), in the same 8x8 style

Scores (higher = more unknown): max-softmax (Hendrycks & Gimpel 2017, the baseline; calibrated
probabilities), energy (Liu et al. 2020), Mahalanobis on penultimate features (Lee et al. 2018,
tied covariance: the app's, chosen by this benchmark) and kNN on L2-normalised penultimate
features (Sun et al. 2022, k=10, every training picture in the bank).
For each: AUROC (test digits vs each kind) and the share flagged at the threshold that lets 95% of
the validation digits pass.

Targets for the app's score (Mahalanobis) (exit 1 on a miss): AUROC >= 0.99 on every far kind; on the near kinds
AUROC at least 0.05 above max-softmax's on average; at most 6% of the test digits flagged.

    python benchmarks/bench_unknown.py [--epochs 10] [--seed 0] [--template seed]
"""

from __future__ import annotations

import argparse
import io
import sys
import time

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageFont

import cnnstudio  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)
from cnnstudio.core.dataset import decode_image
from cnnstudio.core.evaluate.calibration import (
    KNN_K,
    energy_scores,
    fit_calibration,
    knn_scores,
    max_softmax_scores,
    model_outputs,
    normalize_rows,
)
from cnnstudio.core.spec import template
from cnnstudio.core.train import TrainConfig, Trainer

FAR = ("photos", "noise", "flat", "shapes")
NEAR = ("letters", "digits2")
METHODS = ("max-softmax", "energy", "mahalanobis", "knn")
APP = "mahalanobis"  # the app's score
PER_KIND = 200


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Decoder:
    """Every picture goes through a PNG file and the app's decode_image, as a user's would."""

    def __init__(self, prep) -> None:
        self.prep = prep

    def __call__(self, images: list[Image.Image]) -> np.ndarray:
        import tempfile
        from pathlib import Path

        out = []
        with tempfile.TemporaryDirectory() as folder:
            for i, image in enumerate(images):
                path = Path(folder) / f"{i}.png"
                path.write_bytes(_png(image))
                p = self.prep
                out.append(decode_image(str(path), p.height, p.width, p.num_channels, p.fit))
        return np.stack(out)


def digit_style(array8: np.ndarray) -> Image.Image:
    """An 8x8 array of 0..16 as the demo writes it: 32x32 bicubic, grey."""
    pixels = (np.asarray(array8, dtype=np.float64) * (255.0 / 16.0)).round().astype(np.uint8)
    return Image.fromarray(pixels, mode="L").resize((32, 32), Image.Resampling.BICUBIC)


def rendered_in_digit_style(text: str, rng: np.random.Generator) -> Image.Image:
    """A character drawn big, blurred and reduced to 8x8 with 17 levels, like the scanned digits."""
    size = int(rng.integers(40, 56))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    canvas = Image.new("L", (64, 64), 0)
    draw = ImageDraw.Draw(canvas)
    box = draw.textbbox((0, 0), text, font=font)
    w, h = box[2] - box[0], box[3] - box[1]
    x = (64 - w) // 2 - box[0] + int(rng.integers(-3, 4))
    y = (64 - h) // 2 - box[1] + int(rng.integers(-3, 4))
    draw.text((x, y), text, fill=255, font=font)
    canvas = canvas.rotate(float(rng.uniform(-10, 10)), resample=Image.Resampling.BILINEAR)
    canvas = canvas.filter(ImageFilter.GaussianBlur(2))
    small = np.asarray(canvas.resize((8, 8), Image.Resampling.BOX), dtype=np.float64)
    small = np.round(small / max(small.max(), 1) * 16)
    return digit_style(small)


def other_pictures(rng: np.random.Generator) -> dict[str, list[Image.Image]]:
    from sklearn.datasets import load_sample_images

    kinds: dict[str, list[Image.Image]] = {k: [] for k in FAR + NEAR}
    photos = [Image.fromarray(a) for a in load_sample_images().images]
    for _ in range(PER_KIND):
        photo = photos[int(rng.integers(len(photos)))]
        side = int(rng.integers(32, 200))
        left = int(rng.integers(0, photo.width - side))
        top = int(rng.integers(0, photo.height - side))
        crop = photo.crop((left, top, left + side, top + side))
        kinds["photos"].append(crop if rng.random() < 0.5 else crop.convert("L"))
    for i in range(PER_KIND):
        shape = (32, 32, 3) if i % 2 else (32, 32)
        if i % 4 < 2:
            noise = rng.integers(0, 256, shape, dtype=np.uint8)
        else:
            noise = np.clip(rng.normal(128, 60, shape), 0, 255).astype(np.uint8)
        kinds["noise"].append(Image.fromarray(noise))
    for i in range(PER_KIND):
        if i < 20:
            kinds["flat"].append(Image.new("L", (32, 32), 0 if i % 2 else 255))
        else:
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            kinds["flat"].append(Image.new("RGB", (32, 32), colour))
    for i in range(PER_KIND):
        image = Image.new("L", (64, 64), int(rng.integers(0, 60)))
        draw = ImageDraw.Draw(image)
        fill = int(rng.integers(150, 256))
        a, b = sorted(rng.integers(4, 60, 2)), sorted(rng.integers(4, 60, 2))
        kind = i % 4
        if kind == 0:
            draw.ellipse((a[0], b[0], a[1] + 4, b[1] + 4), outline=fill, width=int(rng.integers(2, 8)))
        elif kind == 1:
            draw.rectangle((a[0], b[0], a[1] + 4, b[1] + 4), fill=fill)
        elif kind == 2:
            for _ in range(int(rng.integers(1, 4))):
                draw.line(
                    tuple(int(v) for v in rng.integers(0, 64, 4)), fill=fill, width=int(rng.integers(3, 9))
                )
        else:
            draw.polygon([tuple(int(v) for v in rng.integers(4, 60, 2)) for _ in range(3)], fill=fill)
        kinds["shapes"].append(image)
    letters = "ABCDEFGHJKLMNPQRTUVWXYZabdefghkmnpqrtuwy"  # no O, I, S: they are shaped like 0, 1, 5
    for i in range(PER_KIND):
        kinds["letters"].append(rendered_in_digit_style(letters[i % len(letters)], rng))
        kinds["digits2"].append(rendered_in_digit_style(str(i % 10), rng))
    return kinds


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.zeros(len(inside)), np.ones(len(outside))]
    return float(roc_auc_score(y, np.r_[inside, outside]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--template", default="seed")
    args = parser.parse_args()
    from sklearn.datasets import load_digits

    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    spec = template(args.template)
    prep = spec.preprocessing()
    decode = Decoder(prep)
    digits = load_digits()
    X = decode([digit_style(a) for a in digits.images])
    y = digits.target.astype(np.int64)
    order = rng.permutation(len(y))
    n_train, n_val = int(0.6 * len(y)), int(0.2 * len(y))
    tr, va, te = order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
    trainer = Trainer(
        spec,
        TrainConfig(epochs=args.epochs, batch_size=32, lr=1e-3, seed=args.seed),
        class_names=[str(i) for i in range(10)],
        preprocessing=prep,
    )
    trainer.fit((X[tr], y[tr]), (X[va], y[va]))
    model = trainer.model.to("cpu").eval()
    cal = fit_calibration(model, prep, X[tr], X[va], y[va], y_train=y[tr], num_classes=10)
    logits_te, feats_te = model_outputs(model, X[te], prep)
    accuracy = float((logits_te.argmax(1) == y[te]).mean())
    print(
        f"{args.template}, {args.epochs} epochs: test accuracy {accuracy:.3f}; temperature {cal.temperature:.3f}, "
        f"ECE on validation {cal.ece_before:.3f} -> {cal.ece_after:.3f}"
    )

    _, feats_tr = model_outputs(model, X[tr], prep)
    bank = normalize_rows(feats_tr)

    def scores(logits: np.ndarray, feats: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "max-softmax": max_softmax_scores(logits, cal.temperature),
            "energy": energy_scores(logits),
            "mahalanobis": cal.unknown_scores(feats),
            "knn": knn_scores(feats, bank, KNN_K),
        }

    logits_va, feats_va = model_outputs(model, X[va], prep)
    val_scores = scores(logits_va, feats_va)
    thresholds = {m: float(np.quantile(s, 0.95)) for m, s in val_scores.items()}
    assert abs(thresholds[APP] - cal.threshold) < 1e-5
    test_scores = scores(logits_te, feats_te)
    kinds = other_pictures(rng)
    header = f"{'kind':<10}" + "".join(f"{m:>26}" for m in METHODS)
    print("AUROC (test digits vs kind) / share flagged at the default threshold (95% of validation pass)")
    print(header)
    print(
        f"{'digits':<10}"
        + "".join(f"{'':>12}{(test_scores[m] > thresholds[m]).mean():>13.1%} " for m in METHODS)
    )
    results: dict[str, dict[str, tuple[float, float]]] = {}
    for kind, images in kinds.items():
        logits, feats = model_outputs(model, decode(images), prep)
        other = scores(logits, feats)
        results[kind] = {
            m: (auroc(test_scores[m], other[m]), float((other[m] > thresholds[m]).mean())) for m in METHODS
        }
        print(f"{kind:<10}" + "".join(f"{a:>12.4f}{f:>13.1%} " for a, f in results[kind].values()))
    failures = []
    for kind in FAR:
        if results[kind][APP][0] < 0.99:
            failures.append(f"{APP} AUROC on {kind} is {results[kind][APP][0]:.4f} (< 0.99)")
    gain = np.mean([results[k][APP][0] - results[k]["max-softmax"][0] for k in NEAR])
    print(f"near kinds: {APP} AUROC - max-softmax AUROC = {gain:+.4f} on average")
    if gain < 0.05:
        failures.append(f"the gain on near kinds is {gain:+.4f} (< +0.05)")
    flagged = float((test_scores[APP] > thresholds[APP]).mean())
    if flagged > 0.06:
        failures.append(f"{flagged:.1%} of the test digits are flagged (> 6%)")
    print(f"{time.perf_counter() - started:.0f} s")
    for failure in failures:
        print("MISSED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
