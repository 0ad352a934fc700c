"""The feature cache: a frozen backbone's output computed once, the head trained on it, stored in the
project's cache. Real training on real (random-weight) MobileNetV3 Small, real files on disk."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from cnnstudio.cli import main
from cnnstudio.core.evaluate import evaluate_model, predict_probabilities
from cnnstudio.core.spec import ModelSpec, build_model
from cnnstudio.core.spec.backbones import Backbone
from cnnstudio.core.spec.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    GlobalAveragePooling2D,
    Input,
)
from cnnstudio.core.train import AugmentConfig, TrainConfig, Trainer
from cnnstudio.core.train.features import (
    FeatureStore,
    cacheable,
    evaluation_inputs,
    picture_keys,
    prefix_key,
    split_frozen,
)

CLASSES = ["a", "b", "c"]


def frozen_spec(units: int = 16, dropout: float = 0.2, size: int = 32) -> ModelSpec:
    return ModelSpec(
        [
            Input(size, size, 3),
            Backbone("mobilenet_v3_small", weights="random", train_blocks=0),
            Dropout(dropout),
            Dense(units, activation="relu"),
            Dense("auto", activation="softmax"),
        ],
        name="frozen",
    )


def pictures(n: int = 90, seed: int = 0, size: int = 32):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.integers(0, 60, (n, 3, size, size), dtype=np.uint8)
    for c in range(3):  # learnable: each class brighter in its own colour channel
        X[y == c, c] += 150
    return X, y.astype(np.int64)


def config(epochs: int = 2, **kw) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=16, seed=3, augment=AugmentConfig.none(), **kw)


class Phases:
    def __init__(self, stop_at: int | None = None):
        self.logs: list[dict] = []
        self.stop_at = stop_at
        self.trainer = None

    def on_phase(self, logs):
        self.logs.append(dict(logs))
        if self.stop_at is not None and logs.get("done", 0) >= self.stop_at and "finished" not in logs:
            self.trainer.request_stop()

    @property
    def final(self) -> dict:
        return [entry for entry in self.logs if "finished" in entry][-1]


def fit(spec, cache_dir, *, use=True, epochs=2, callbacks=(), run_dir=None, **kw):
    torch.manual_seed(0)
    trainer = Trainer(
        spec,
        config(epochs, **kw),
        class_names=CLASSES,
        preprocessing=spec.preprocessing(),
        callbacks=callbacks,
        run_dir=run_dir,
    )
    trainer.use_feature_cache = use
    trainer.feature_cache_dir = cache_dir
    X, y = pictures()
    history = trainer.fit((X[:60], y[:60]), (X[60:], y[60:]))
    return trainer, history


def test_only_frozen_deterministic_prefixes_with_augmentation_off_are_cached():
    torch.manual_seed(0)
    model = build_model(frozen_spec(), 3)
    split = split_frozen(model, (3, 32, 32))
    assert split is not None and split.cut == 1 and split.feature_shape == (576,)
    assert cacheable(model, augment_enabled=True) is None
    trained_block = frozen_spec()
    trained_block.layers[1] = Backbone("mobilenet_v3_small", weights="random", train_blocks=1)
    assert split_frozen(build_model(trained_block, 3)) is None
    plain = ModelSpec(
        [Input(32, 32, 3), Conv2D(8, 3), GlobalAveragePooling2D(), Dense("auto", activation="softmax")]
    )
    assert split_frozen(build_model(plain, 3)) is None  # nothing frozen
    frozen_bn = ModelSpec(
        [
            Input(32, 32, 3),
            Conv2D(4, 3, trainable=False),
            BatchNormalization(trainable=False),
            GlobalAveragePooling2D(),
            Dense("auto", activation="softmax"),
        ]
    )
    assert split_frozen(build_model(frozen_bn, 3), (3, 32, 32)).cut == 3  # pooling joins the prefix
    # A frozen convolution whose output is bigger than the picture is not worth storing.
    big = ModelSpec(
        [
            Input(32, 32, 3),
            Conv2D(16, 3, trainable=False),
            Conv2D(4, 3),
            GlobalAveragePooling2D(),
            Dense("auto", activation="softmax"),
        ]
    )
    assert split_frozen(build_model(big, 3), (3, 32, 32)) is None


def test_training_on_cached_features_gives_the_same_model(tmp_path):
    cached, h1 = fit(frozen_spec(), tmp_path / "cache")
    plain, h2 = fit(frozen_spec(), tmp_path / "cache", use=False)
    assert cached.feature_plan is not None and plain.feature_plan is None
    for key, value in cached.model.state_dict().items():
        torch.testing.assert_close(value, plain.model.state_dict()[key], atol=1e-4, rtol=1e-4)
    for a, b in zip(h1.epochs, h2.epochs, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-5)
        assert a["val_accuracy"] == b["val_accuracy"]
    X, _ = pictures(30, seed=9)
    prep = frozen_spec().preprocessing()
    p1 = predict_probabilities(cached.model, X, prep)
    p2 = predict_probabilities(plain.model, X, prep)
    np.testing.assert_allclose(p1, p2, atol=1e-5)
    assert (p1.argmax(1) == p2.argmax(1)).all()


def test_the_key_follows_the_frozen_part_and_nothing_else(tmp_path):
    def key(spec, seed=0, prep=None):
        torch.manual_seed(seed)
        model = build_model(spec, 3)
        return prefix_key(model, split_frozen(model), prep or spec.preprocessing())

    base = key(frozen_spec())
    assert key(frozen_spec()) == base  # the same random weights (same seed)
    assert key(frozen_spec(units=32, dropout=0.5)) == base  # the head does not change the features
    assert key(frozen_spec(), seed=1) != base  # other frozen weights
    prep = frozen_spec().preprocessing()
    assert (
        key(frozen_spec(), prep=dataclasses.replace(prep, mean=(0.5, 0.5, 0.5))) != base
    )  # other preprocessing
    assert key(frozen_spec(), prep=dataclasses.replace(prep, fit="pad")) != base
    resnet = frozen_spec()
    resnet.layers[1] = Backbone("resnet18", weights="random")
    assert key(resnet) != base  # another frozen design
    assert picture_keys(pictures(2)[0]).shape == (2, 16)
    X = pictures(2)[0]
    changed = X.copy()
    changed[1, 0, 0, 0] ^= 1
    keys, keys2 = picture_keys(X), picture_keys(changed)
    assert (keys[0] == keys2[0]).all() and not (keys[1] == keys2[1]).all()  # one pixel changes the identity


def test_a_second_run_reads_the_features_and_evaluation_reuses_them(tmp_path):
    cache = tmp_path / "cache"
    first_phases, second_phases = Phases(), Phases()
    first, _ = fit(frozen_spec(), cache, callbacks=[first_phases], run_dir=tmp_path / "run1")
    assert first_phases.final["done"] == 90 and first_phases.final["finished"]
    assert list((cache / "features").glob("*/*.keys.npy"))
    second, history = fit(frozen_spec(units=8), cache, callbacks=[second_phases], run_dir=tmp_path / "run2")
    assert second.feature_plan.computed == 0  # nothing computed again
    assert second_phases.final == {**second_phases.final, "done": 0, "reused": 90, "finished": True}
    assert history.status == "finished" and len(history.epochs) == 2
    # Evaluation with the cached features = evaluation of the full model.
    X, y = pictures()
    prep = frozen_spec().preprocessing()
    head, head_input = evaluation_inputs(second.model, prep, cache)
    assert head is not second.model
    report = evaluate_model(head, X, y, class_names=CLASSES, preprocessing=head_input)
    assert head_input.reused == 90
    full = evaluate_model(second.model, X, y, class_names=CLASSES, preprocessing=prep)
    assert report.accuracy == full.accuracy
    np.testing.assert_allclose(
        predict_probabilities(head, X, head_input), predict_probabilities(second.model, X, prep), atol=1e-5
    )


def test_a_stop_while_computing_keeps_a_usable_cache(tmp_path):
    cache = tmp_path / "cache"
    phases = Phases(stop_at=32)
    trainer, history = fit(frozen_spec(), cache, callbacks=[phases], run_dir=tmp_path / "run")
    assert history.status == "stopped" and not history.epochs
    assert phases.final["finished"] is False
    done = phases.final["done"]
    assert 0 < done < 90
    # A damaged leftover (a chunk whose keys file was never written, a truncated one) is ignored.
    folder = next((cache / "features").iterdir())
    (folder / "orphan.npy").write_bytes(b"\x93NUMPY half")
    (folder / "broken.keys.npy").write_bytes(b"not numpy")
    assert len(FeatureStore(folder, (576,))) == done
    resumed = Trainer.resume_run(tmp_path / "run", callbacks=[again := Phases()])
    resumed.feature_cache_dir = cache
    X, y = pictures()
    history = resumed.fit((X[:60], y[:60]), (X[60:], y[60:]))
    assert history.status == "finished" and len(history.epochs) == 2
    assert again.final["done"] == 90 - done and again.final["reused"] == done
    # The finished model is the one a run that was never stopped gives.
    whole, _ = fit(frozen_spec(), tmp_path / "other", use=False)
    for key, value in resumed.model.state_dict().items():
        torch.testing.assert_close(value, whole.model.state_dict()[key], atol=1e-4, rtol=1e-4)


def test_augmented_runs_do_not_use_the_cache(tmp_path):
    trainer, history = fit(frozen_spec(), tmp_path / "cache", epochs=1)
    assert trainer.feature_plan is not None
    torch.manual_seed(0)
    spec = frozen_spec()
    augmented = Trainer(
        spec,
        TrainConfig(epochs=1, batch_size=16, augment=AugmentConfig.default()),
        class_names=CLASSES,
        preprocessing=spec.preprocessing(),
    )
    augmented.feature_cache_dir = tmp_path / "cache2"
    X, y = pictures(40)
    augmented.fit((X, y))
    assert augmented.feature_plan is None and not (tmp_path / "cache2").exists()


def test_cli_train_shows_the_phase_and_a_second_run_reuses_it(tmp_path, tiny_image_folder, capsys):
    data = tiny_image_folder(classes=3, per_class=8, size=32)
    spec_file = tmp_path / "frozen.json"
    frozen_spec().save(spec_file)
    argv = [
        "train",
        str(data),
        "--project",
        str(tmp_path / "proj"),
        "--spec",
        str(spec_file),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--augment",
        "none",
        "--json",
    ]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert re.search(r"Computing features: \d+ pictures in", err), err
    # The reported validation numbers are the kept model's (its best epoch by validation loss), and
    # agree with their own confusion matrix.
    result = json.loads(out)
    val, confusion = result["val"], np.array(result["val"]["confusion_matrix"])
    best = min(result["epochs"], key=lambda e: e["val_loss"])
    assert val["images"] == confusion.sum() > 0
    assert val["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert val["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-9)
    assert main(argv) == 0
    _, err = capsys.readouterr()
    assert re.search(r"Features of all \d+ pictures read from the cache", err), err


def test_an_augmented_run_measures_how_much_faster_it_would_be_without(tmp_path):
    from cnnstudio.core.train.coach import CoachContext, coach

    torch.manual_seed(0)
    spec = frozen_spec(size=64)
    trainer = Trainer(
        spec,
        TrainConfig(epochs=1, batch_size=16, augment=AugmentConfig.default()),
        class_names=CLASSES,
        preprocessing=spec.preprocessing(),
    )
    X, y = pictures(32, size=64)
    history = trainer.fit((X, y))
    speedup = history.epochs[0]["feature_cache_speedup"]
    assert speedup > 2  # the backbone costs far more than the small head
    advice = coach(history.epochs, CoachContext(augmenting=True))
    assert f"about {speedup:.0f} times faster" in advice.text
    # Without augmentation the cache is used, so there is nothing to estimate.
    _, plain = fit(frozen_spec(), tmp_path / "cache", epochs=1)
    assert "feature_cache_speedup" not in plain.epochs[0]
