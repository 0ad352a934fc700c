"""Tiny real image folders written with Pillow (STYLE.md point 6).

A plain module, so any test can `from image_fixtures import write_tiny_image_folder` (tests/gui has a
conftest.py of its own, which makes `from conftest import ...` ambiguous).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def _pattern(class_index: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """An RGB image whose class is easy to learn: stripes in one of a few orientations and colours."""
    yy, xx = np.mgrid[0:size, 0:size]
    kind = class_index % 4
    if kind == 0:
        wave = np.sin(yy * 0.8)
    elif kind == 1:
        wave = np.sin(xx * 0.8)
    elif kind == 2:
        wave = np.sin((xx + yy) * 0.6)
    else:
        wave = np.cos(np.hypot(xx - size / 2, yy - size / 2) * 0.7)
    base = np.zeros((size, size, 3))
    base[..., class_index % 3] = 0.5 + 0.5 * wave
    base[..., (class_index + 1) % 3] = 0.3
    noisy = base + rng.normal(0, 0.05, base.shape)
    return (np.clip(noisy, 0, 1) * 255).astype(np.uint8)


def write_tiny_image_folder(
    root: Path, classes: int = 3, per_class: int = 6, size: int = 32, seed: int = 0
) -> Path:
    """One sub-folder per class (class_0, class_1, ...), images alternating PNG and JPEG."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for c in range(classes):
        folder = root / f"class_{c}"
        folder.mkdir(exist_ok=True)
        for i in range(per_class):
            image = Image.fromarray(_pattern(c, rng, size))
            if i % 2:
                image.save(folder / f"img_{i:03d}.jpg", quality=95)
            else:
                image.save(folder / f"img_{i:03d}.png")
    return root
