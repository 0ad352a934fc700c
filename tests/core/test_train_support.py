"""Helpers shared by the test_train_* files (imported as `test_train_support`), and their own checks.

Tiny real data: conftest's PNG/JPEG class folders decoded with Pillow (the dataset package has
its own decoder; the trainer only needs uint8 (N, C, H, W) arrays), a tiny CNN, and a stand-in
preprocessing object with the two methods the trainer uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from image_fixtures import write_tiny_image_folder
from PIL import Image
from torch import nn

from cnnstudio.core.train import AugmentConfig, TrainConfig

CLASSES = ["class_0", "class_1", "class_2"]


class StandInPreprocessing:
    """x / 255, like the real Preprocessing of a custom CNN."""

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() / 255

    def to_dict(self) -> dict:
        return {"height": 16, "width": 16, "channels": "RGB", "fit": "stretch", "scale": 1 / 255}


def decode_folder(root: Path, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for c, name in enumerate(CLASSES):
        for path in sorted((root / name).iterdir()):
            rgb = Image.open(path).convert("RGB").resize((size, size))
            images.append(np.asarray(rgb).transpose(2, 0, 1))
            labels.append(c)
    return np.ascontiguousarray(np.stack(images)), np.array(labels, dtype=np.int64)


def tiny_data(root: Path, per_class: int = 8, size: int = 16, seed: int = 0):
    """(X uint8 (N, 3, size, size), y int64) from real image files written under root."""
    return decode_folder(
        write_tiny_image_folder(root, classes=3, per_class=per_class, size=size, seed=seed), size
    )


class TinyNet(nn.Module):
    def __init__(self, classes: int = 3, dropout: float = 0.0):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def tiny_net(seed: int = 0, **kwargs) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet(**kwargs)


def quick_config(**overrides) -> TrainConfig:
    values = {
        "epochs": 2,
        "batch_size": 8,
        "lr": 0.01,
        "device": "cpu",
        "precision": "full",
        "augment": AugmentConfig.none(),
    }
    values.update(overrides)
    return TrainConfig(**values)


def weights_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----- checks of the helpers themselves ---------------------------------------------------------


def test_tiny_data_is_uint8_nchw_from_real_files(tmp_path):
    X, y = tiny_data(tmp_path / "data", per_class=4)
    assert X.dtype == np.uint8 and X.shape == (12, 3, 16, 16)
    assert y.tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_stand_in_matches_the_real_preprocessing():
    from cnnstudio.core.spec import template

    x = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    real = template("seed").preprocessing()
    assert torch.allclose(real.normalize(x), StandInPreprocessing().normalize(x))
