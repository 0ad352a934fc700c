"""The demo dataset: the handwritten digits that scikit-learn ships (1,797 real images, 10 classes).

Written once as PNG files in class folders under the user data folder, so the demo works offline and
goes through exactly the same code as a user's own folder. The originals are 8x8 with 17 grey levels;
they are written at 32x32 (bicubic) so that thumbnails are readable and the health check does not
call every image tiny. Nothing else changes about them.
"""

from __future__ import annotations

from pathlib import Path

from cnnstudio.core.atomic import write_bytes_atomic
from cnnstudio.core.paths import user_data_dir

DEMO_SIZE = 32
_MARKER = ".complete"


def demo_dataset_dir() -> Path:
    return user_data_dir() / "demo" / "digits"


def demo_project_dir() -> Path:
    return user_data_dir() / "projects" / "demo"


def ensure_demo_dataset() -> Path:
    """Write the digits as PNG files once; later calls return the folder at once."""
    folder = demo_dataset_dir()
    if (folder / _MARKER).exists():
        return folder
    import io

    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    counters: dict[int, int] = {}
    for image, target in zip(digits.images, digits.target, strict=True):
        target = int(target)
        n = counters.get(target, 0)
        counters[target] = n + 1
        pixels = (np.asarray(image) * (255.0 / 16.0)).round().astype(np.uint8)
        big = Image.fromarray(pixels, mode="L").resize((DEMO_SIZE, DEMO_SIZE), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        big.save(buffer, format="PNG")
        write_bytes_atomic(folder / str(target) / f"digit_{target}_{n:04d}.png", buffer.getvalue())
    (folder / _MARKER).write_text("1797 images\n")
    return folder


def open_demo_project():
    """The demo project on the digits: created on first use, opened afterwards."""
    from cnnstudio.core.project import PROJECT_FILE, Project

    folder = demo_project_dir()
    if (folder / PROJECT_FILE).exists():
        return Project.open(folder)
    return Project.create(folder, ensure_demo_dataset(), name="Demo: handwritten digits")
