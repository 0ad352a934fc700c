"""Training settings as plain data: `TrainConfig` and `AugmentConfig`, each with a JSON round trip.

Both are saved in every run's config.json, so `from_dict` accepts what any earlier version wrote:
keys it does not know are ignored and missing keys take their defaults.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from cnnstudio.core.errors import UserError

SCHEMA_VERSION = 1

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "step", "cosine", "one_cycle", "plateau")
MONITORS = ("val_loss", "val_accuracy")
PRECISIONS = ("auto", "full", "fast")


def _known(cls, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class AugmentConfig:
    """Random changes applied to each training image, drawn anew for every image in every epoch.

    Each number is a strength: the largest change drawn (uniformly, in both directions).
    rotation is in degrees; zoom and translate are fractions of the image size; brightness is a
    fraction of the full pixel range; contrast a fraction of the image's own contrast. A flip
    happens to half the images when switched on.
    """

    hflip: bool = False
    vflip: bool = False
    rotation: float = 0.0
    zoom: float = 0.0
    translate: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0

    @classmethod
    def default(cls) -> AugmentConfig:
        """Mild changes that suit most photos. Flips stay off: a flipped digit or letter is another class."""
        return cls(rotation=10.0, zoom=0.1, translate=0.1, brightness=0.1, contrast=0.1)

    @classmethod
    def none(cls) -> AugmentConfig:
        return cls()

    @property
    def geometric(self) -> bool:
        return bool(self.hflip or self.vflip or self.rotation or self.zoom or self.translate)

    @property
    def photometric(self) -> bool:
        return bool(self.brightness or self.contrast)

    @property
    def enabled(self) -> bool:
        return self.geometric or self.photometric

    def validate(self) -> None:
        for name in ("rotation", "zoom", "translate", "brightness", "contrast"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise UserError(f"The augmentation strength '{name}' must be zero or a positive number.")
        if self.rotation > 180:
            raise UserError("Random rotation can be at most 180 degrees.")
        if self.zoom >= 1:
            raise UserError("Random zoom must be less than 1 (0.1 means up to 10% in or out).")
        if self.translate > 1:
            raise UserError("Random shift must be at most 1 (0.1 means up to 10% of the image size).")
        if self.contrast >= 1:
            raise UserError("Random contrast must be less than 1 (0.1 means up to 10% more or less).")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AugmentConfig:
        return cls(**_known(cls, data or {}))


@dataclass
class TrainConfig:
    """How to train. The defaults follow the Keras guide: Adam, learning rate 0.001, batch 32.

    Schedules: "constant"; "step" (multiply by `gamma` every `step_size` epochs); "cosine" (down to
    `min_lr` over the whole run, updated every batch); "one_cycle" (warm up to `lr` then anneal,
    every batch); "plateau" (multiply by `plateau_factor` when the monitored value has not improved
    for `plateau_patience` epochs).

    `balance_classes` weights the loss of each class by the inverse of its frequency in the training
    split (weight = N / (K * count)), so a rare class counts as much as a common one. We chose the
    weighted loss over a weighted sampler because it keeps every image in every epoch and keeps the
    epoch a plain permutation (cheap, seeded, resumable).

    `monitor` chooses the best checkpoint, early stopping and the plateau schedule. Without a
    validation split, "val_loss" falls back to the training loss and "val_accuracy" to the training
    accuracy.
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 32
    epochs: int = 10
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd (momentum) and rmsprop
    nesterov: bool = False  # sgd only
    label_smoothing: float = 0.0
    schedule: str = "constant"
    step_size: int = 10
    gamma: float = 0.1
    min_lr: float = 0.0
    plateau_factor: float = 0.2
    plateau_patience: int = 3
    monitor: str = "val_loss"
    early_stopping: bool = False
    patience: int = 5
    min_delta: float = 0.0
    restore_best: bool = True
    balance_classes: bool = False
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    augment: AugmentConfig = field(default_factory=AugmentConfig.default)

    def validate(self) -> None:
        """Raise UserError naming the first setting that cannot work."""
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"Unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}.")
        if self.schedule not in SCHEDULES:
            raise UserError(
                f"Unknown learning-rate schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}."
            )
        if self.monitor not in MONITORS:
            raise UserError(
                f"The monitored value must be one of {', '.join(MONITORS)} (not {self.monitor!r})."
            )
        if self.precision not in PRECISIONS:
            raise UserError(f"Precision must be one of {', '.join(PRECISIONS)} (not {self.precision!r}).")
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise UserError("The learning rate must be a positive number, such as 0.001.")
        for name in ("batch_size", "epochs", "step_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"'{name}' must be a whole number of at least 1.")
        for name in ("patience", "plateau_patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise UserError(f"'{name}' must be a whole number, 0 or more.")
        for name in ("weight_decay", "momentum", "min_lr", "min_delta"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise UserError(f"'{name}' must be zero or a positive number.")
        if not 0 <= self.label_smoothing < 1:
            raise UserError("Label smoothing must be at least 0 and less than 1 (0.1 is typical).")
        if not 0 < self.gamma <= 1 or not 0 < self.plateau_factor < 1:
            raise UserError(
                "The schedule's factor must be between 0 and 1 (0.1 divides the learning rate by 10)."
            )
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise UserError("Nesterov momentum needs the 'sgd' optimizer with a momentum above 0.")
        self.augment.validate()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["augment"] = self.augment.to_dict()
        return {"schema_version": SCHEMA_VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        data.pop("schema_version", None)  # version 1 is the only one so far: nothing to migrate
        augment = data.pop("augment", None)
        config = cls(**_known(cls, data))
        if augment is not None:
            config.augment = AugmentConfig.from_dict(augment)
        return config
