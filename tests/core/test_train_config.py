"""TrainConfig and AugmentConfig: JSON round trip, validation in plain words, defaults."""

from __future__ import annotations

import json

import pytest

from cnnstudio.core.errors import UserError
from cnnstudio.core.train import AugmentConfig, TrainConfig


def test_round_trip_through_json():
    config = TrainConfig(
        optimizer="sgd",
        nesterov=True,
        lr=0.05,
        schedule="one_cycle",
        early_stopping=True,
        monitor="val_accuracy",
        balance_classes=True,
        augment=AugmentConfig(hflip=True, rotation=15),
    )
    data = json.loads(json.dumps(config.to_dict()))
    assert data["schema_version"] == 1
    assert TrainConfig.from_dict(data) == config


def test_from_dict_ignores_unknown_keys_and_fills_defaults():
    config = TrainConfig.from_dict({"lr": 0.1, "some_future_setting": 3, "augment": {"zoom": 0.2, "new": 1}})
    assert config.lr == 0.1 and config.epochs == TrainConfig().epochs
    assert config.augment == AugmentConfig(zoom=0.2)


def test_default_augmentation_is_mild_and_flips_are_off():
    cfg = AugmentConfig.default()
    assert not cfg.hflip and not cfg.vflip
    assert cfg.rotation == 10 and cfg.zoom == cfg.translate == cfg.brightness == cfg.contrast == 0.1
    assert not AugmentConfig.none().enabled and cfg.enabled


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"optimizer": "adagrad"}, "optimizer"),
        ({"lr": 0}, "learning rate"),
        ({"lr": float("nan")}, "learning rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"schedule": "warm"}, "schedule"),
        ({"monitor": "loss"}, "monitored"),
        ({"precision": "half"}, "Precision"),
        ({"label_smoothing": 1.0}, "smoothing"),
        ({"nesterov": True, "optimizer": "adam"}, "Nesterov"),
        ({"augment": AugmentConfig(zoom=1.5)}, "zoom"),
    ],
)
def test_validation_names_the_setting(change, words):
    with pytest.raises(UserError, match=words):
        TrainConfig(**change).validate()
