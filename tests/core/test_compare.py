"""Runs side by side: the settings that differ, the metrics with the best marked, F1 per class, curves."""

from __future__ import annotations

import json

import pytest
from image_fixtures import write_tiny_image_folder

from cnnstudio.core.errors import UserError
from cnnstudio.core.pipeline import train_project
from cnnstudio.core.project import Project
from cnnstudio.core.runs.compare import compare_runs, describe_augment, describe_layers
from cnnstudio.core.spec import template
from cnnstudio.core.train import AugmentConfig, TrainConfig


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    project = Project.create(
        root / "proj", write_tiny_image_folder(root / "data", classes=3, per_class=10, size=32)
    )
    a = train_project(
        project,
        template("tiny"),
        TrainConfig(epochs=2, batch_size=8, augment=AugmentConfig.none()),
        label="a",
    )
    b = train_project(project, template("tiny"), TrainConfig(epochs=3, batch_size=16, lr=0.01), label="b")
    return a.run_dir, b.run_dir


def test_settings_that_differ_metrics_per_class_f1_and_curves(runs):
    a, b = runs
    comparison = compare_runs([a, b])
    assert [r.name for r in comparison.runs] == [a.name, b.name]
    assert [r.state for r in comparison.runs] == ["finished", "finished"]
    differing = {row.label: row.values for row in comparison.differing()}
    assert differing["Batch size"] == ["8", "16"]
    assert differing["Epochs"] == ["2", "3"]
    assert differing["Learning rate"] == ["0.001", "0.01"]
    assert differing["Augmentation"][0] == "none" and "rotation 10°" in differing["Augmentation"][1]
    same = {row.label for row in comparison.settings if not row.differs}
    assert {"Model design", "Layers", "Optimizer", "Dataset version", "Picture size"} <= same

    metrics = {m.key: m for m in comparison.metrics}
    val = json.loads((a / "evaluation_val.json").read_text())
    assert metrics["val_accuracy"].values[0] == val["accuracy"]
    assert metrics["epochs"].values == [2.0, 3.0] and metrics["epochs"].best is None
    best = metrics["val_macro_f1"].best
    assert best == max(range(2), key=lambda i: metrics["val_macro_f1"].values[i])
    assert metrics["best_val_loss"].higher_is_better is False

    assert comparison.split == "val" and comparison.classes == ["class_0", "class_1", "class_2"]
    assert comparison.per_class_f1["class_0"][0] == val["per_class"][0]["f1"]
    assert [c["x"] for c in comparison.curves] == [[1, 2], [1, 2, 3]]
    assert len(comparison.curves[1]["val_loss"]) == 3
    json.dumps(comparison.to_dict())  # plain data


def test_one_run_a_missing_evaluation_and_mistakes(runs, tmp_path):
    a, _ = runs
    single = compare_runs([a], split="test")
    assert single.split == "test" and single.differing() == []
    with pytest.raises(UserError, match="at least one run"):
        compare_runs([])
    with pytest.raises(UserError, match="not a training run"):
        compare_runs([tmp_path])


def test_words_for_layers_and_augmentation():
    assert describe_layers(template("seed").to_dict()).startswith("Conv2D 32 · MaxPooling2D · Conv2D 64")
    assert describe_augment(AugmentConfig.none().to_dict()) == "none"
    assert describe_augment({"zoom": 0.1, "hflip": True}) == "zoom 0.1, hflip"
