"""The search space in plain words: its JSON file, its checks, and how a trial's values change the
design and the training settings (no training here)."""

from __future__ import annotations

import json

import pytest

from cnnstudio.core.errors import UserError
from cnnstudio.core.search import SearchSettings, SearchSpace, apply_params, default_space
from cnnstudio.core.spec import Backbone, Dense, Dropout, Input, ModelSpec, template
from cnnstudio.core.train import AugmentConfig, TrainConfig


def test_space_file_round_trip_with_aliases_and_words(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(
        json.dumps(
            {
                "lr": {"min": 0.0001, "max": 0.01},
                "batch_size": [16, 32, 32, 64],
                "optimizer": ["adam", "sgd"],
                "dropout_rate": {"min": 0.1, "max": 0.5},
                "filters": [0.5, 1, 2],
                "augmentation": 1.5,
            }
        )
    )
    space = SearchSpace.load(path)
    assert list(space.params) == [
        "learning_rate",
        "batch_size",
        "optimizer",
        "dropout",
        "augmentation",
        "filters",
    ]
    lr = space.params["learning_rate"]
    assert lr.is_range and lr.log  # a learning rate range is searched on a log scale by default
    assert space.params["batch_size"].values == (16, 32, 64)  # duplicates dropped
    assert space.params["augmentation"].values == (1.5,)  # one value: fixed, not searched
    assert "augmentation" not in {p.name for p in space.searched}
    assert space.describe()[0] == "Learning rate from 0.0001 to 0.01 (log scale)"
    assert space.describe()[1] == "Batch size: 16, 32 or 64"
    assert space.grid(points=3)["learning_rate"] == [0.0001, 0.001, 0.01]
    assert space.grid_size(points=3) == 3 * 3 * 2 * 3 * 1 * 3
    again = SearchSpace.from_dict(json.loads(json.dumps(space.to_dict())))
    assert again.to_dict() == space.to_dict()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"momentum": [0.9]}, "cannot vary 'momentum'"),
        ({"learning_rate": {"min": 0.1, "max": 0.01}}, "above the largest"),
        ({"learning_rate": {"min": 0, "max": 0.01}}, "at least 1e-07"),
        ({"batch_size": [16, 24.5]}, "whole number"),
        ({"optimizer": ["adam", "lion"]}, "not an optimizer"),
        ({"optimizer": {"min": 1, "max": 2}}, "is a choice, not a range"),
        ({"dropout": [0.2, 1.5]}, "at most 0.95"),
        ({"batch_size": []}, "empty"),
        ({"learning_rate": {"low": 1}}, "a range is written"),
    ],
)
def test_space_mistakes_are_refused_in_words(data, words):
    with pytest.raises(UserError, match=words):
        SearchSpace.from_dict(data)


def test_bad_json_file_names_the_line(tmp_path):
    path = tmp_path / "space.json"
    path.write_text('{"batch_size": [16,\n32,]}')
    with pytest.raises(UserError, match="line 2"):
        SearchSpace.load(path)
    with pytest.raises(UserError, match="no search space file"):
        SearchSpace.load(tmp_path / "missing.json")


def test_apply_params_changes_every_layer_it_names_and_copies_the_rest():
    spec = ModelSpec(
        [
            *template("seed").layers[:-1],
            Dropout(0.5),
            Dense(32, activation="relu"),
            Dropout(0.25),
            Dense("auto", activation="softmax"),
        ],
        name="seed+",
    )
    config = TrainConfig(optimizer="sgd", nesterov=True, augment=AugmentConfig(hflip=True, rotation=10))
    params = {
        "learning_rate": 0.02,
        "batch_size": 64,
        "optimizer": "adam",
        "dropout": 0.3,
        "filters": 2.0,
        "dense_units": 256,
        "augmentation": 0.5,
    }
    new_spec, new_config = apply_params(spec, config, params)
    assert [layer.filters for layer in new_spec.layers if layer.type == "Conv2D"] == [64, 128]
    assert [layer.rate for layer in new_spec.layers if layer.type == "Dropout"] == [0.3, 0.3]
    assert [layer.units for layer in new_spec.layers if layer.type == "Dense"] == [256, 256, "auto"]
    assert new_spec.name == "seed+"
    assert (new_config.lr, new_config.batch_size, new_config.optimizer, new_config.nesterov) == (
        0.02,
        64,
        "adam",
        False,
    )
    default = AugmentConfig.default()
    assert new_config.augment.rotation == pytest.approx(default.rotation * 0.5)
    assert new_config.augment.zoom == pytest.approx(default.zoom * 0.5)
    assert new_config.augment.hflip  # flips come from the design's own settings
    new_config.validate()
    # The originals are untouched.
    assert [layer.filters for layer in spec.layers if layer.type == "Conv2D"] == [32, 64]
    assert config.lr == 0.001 and config.optimizer == "sgd"


def test_backbone_blocks_and_what_does_not_apply_to_a_design():
    spec = ModelSpec(
        [Input(64, 64, 3), Backbone("resnet18", weights="random"), Dense("auto")], name="transfer"
    )
    space = SearchSpace.from_dict({"train_blocks": [0, 2, 9], "dropout": [0.1, 0.2], "dense_units": [8, 16]})
    kept, notes = space.for_design(spec)
    assert list(kept.params) == ["train_blocks"]
    assert any("no Dropout layer" in n for n in notes) and any(
        "no Dense layer before the last" in n for n in notes
    )
    new_spec, _ = apply_params(spec, TrainConfig(), {"train_blocks": 9})
    assert new_spec.layers[1].train_blocks == 5  # resnet18 has 5 blocks: "all of them"
    assert "train_blocks" in default_space(spec).params
    assert list(default_space(template("tiny")).params) == ["learning_rate", "batch_size"]


def test_settings_round_trip_and_checks():
    settings = SearchSettings(space=default_space(), strategy="grid", metric="val_loss", epochs=2)
    again = SearchSettings.from_dict(json.loads(json.dumps(settings.to_dict())))
    assert again.to_dict() == settings.to_dict()
    assert again.metric_info.direction == "minimize"
    assert "Optimising: Validation loss (lower is better)" in again.describe()
    with pytest.raises(UserError, match="strategy"):
        SearchSettings(strategy="genetic").validate()
    with pytest.raises(UserError, match="at least one setting"):
        SearchSettings(space=SearchSpace.from_dict({"batch_size": 32})).validate()
