"""Training: `Trainer.fit` over the cached uint8 split, run folders, checkpoints, augmentation.

from cnnstudio.core.train import TrainConfig, AugmentConfig, Trainer
trainer = Trainer(spec, TrainConfig(epochs=5), class_names=names, preprocessing=spec.preprocessing(),
                  run_dir=new_run_dir(project.runs_dir, "seed"))
history = trainer.fit((X_train, y_train), (X_val, y_val))

The names below are imported on first use (PEP 562): `TrainConfig` and `AugmentConfig` are plain
data, and the GUI builds its Train section from them before torch is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnstudio.core.lazy import lazy_exports

if TYPE_CHECKING:
    from cnnstudio.core.train.augment import augment_batch
    from cnnstudio.core.train.callbacks import Callback, History
    from cnnstudio.core.train.checkpoints import load_run_weights, read_weights
    from cnnstudio.core.train.config import AugmentConfig, TrainConfig
    from cnnstudio.core.train.device import (
        PrecisionPlan,
        configure_threads,
        cpu_bf16_feature,
        cpu_supports_fast_bf16,
        resolve_device,
        resolve_precision,
    )
    from cnnstudio.core.train.failures import TrainingFailed
    from cnnstudio.core.train.lr_finder import LRFindResult, lr_find
    from cnnstudio.core.train.trainer import Trainer

_HOMES = {
    "augment_batch": "augment",
    "Callback": "callbacks",
    "History": "callbacks",
    "load_run_weights": "checkpoints",
    "read_weights": "checkpoints",
    "AugmentConfig": "config",
    "TrainConfig": "config",
    "PrecisionPlan": "device",
    "configure_threads": "device",
    "cpu_bf16_feature": "device",
    "cpu_supports_fast_bf16": "device",
    "resolve_device": "device",
    "resolve_precision": "device",
    "TrainingFailed": "failures",
    "LRFindResult": "lr_finder",
    "lr_find": "lr_finder",
    "Trainer": "trainer",
}

__all__ = [
    "AugmentConfig",
    "Callback",
    "History",
    "LRFindResult",
    "PrecisionPlan",
    "TrainConfig",
    "Trainer",
    "TrainingFailed",
    "augment_batch",
    "configure_threads",
    "cpu_bf16_feature",
    "cpu_supports_fast_bf16",
    "load_run_weights",
    "lr_find",
    "read_weights",
    "resolve_device",
    "resolve_precision",
]

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
