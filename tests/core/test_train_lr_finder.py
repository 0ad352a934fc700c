"""The LR range test: points, a suggestion in range, the real model and RNG untouched."""

from __future__ import annotations

import math

import pytest
import torch
from test_train_support import (
    CLASSES,
    StandInPreprocessing,
    quick_config,
    same_weights,
    tiny_data,
    tiny_net,
    weights_of,
)

from cnnstudio.core.train import Trainer, lr_find
from cnnstudio.core.train.lr_finder import suggest_lr


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_data(tmp_path_factory.mktemp("lr") / "data", per_class=8)


def test_lr_find_sweeps_and_suggests_a_rate_in_range(data):
    model = tiny_net()
    before = weights_of(model)
    rng = torch.get_rng_state()
    result = lr_find(model, data, preprocessing=StandInPreprocessing(), config=quick_config(), num_batches=60)
    assert 10 <= len(result.lrs) == len(result.losses) <= 60
    assert result.lrs[0] == pytest.approx(1e-7) and all(
        b > a for a, b in zip(result.lrs[:-1], result.lrs[1:], strict=True)
    )
    assert 1e-7 <= result.suggestion <= 10 and 1e-7 <= result.min_loss_lr <= 10
    assert 1e-5 < result.suggestion < 1  # a sane rate for Adam on this data
    assert same_weights(before, weights_of(model))
    assert torch.equal(rng, torch.get_rng_state())


def test_the_sweep_stops_when_the_loss_explodes(data):
    config = quick_config(optimizer="sgd")
    result = lr_find(tiny_net(), data, preprocessing=StandInPreprocessing(), config=config, end_lr=1e8)
    assert len(result.lrs) < 100 and result.lrs[-1] < 1e8
    assert max(result.losses) > 3 * min(result.losses) or not math.isfinite(result.losses[-1])


def test_trainer_lr_find_uses_its_model_and_config(data):
    trainer = Trainer(tiny_net(), quick_config(), class_names=CLASSES, preprocessing=StandInPreprocessing())
    before = weights_of(trainer.model)
    result = trainer.lr_find(data, num_batches=20, end_lr=1.0)
    assert len(result.lrs) <= 20 and result.lrs[-1] <= 1.0
    assert same_weights(before, weights_of(trainer.model))


def test_suggestion_is_the_steepest_descent_or_a_tenth_of_the_minimum():
    lrs = [10 ** (-7 + i * 0.1) for i in range(60)]
    # flat, then falling fastest around 1e-4, bottoming at 1e-3, then exploding
    losses = [2.0 - 1.5 / (1 + math.exp(-(math.log10(lr) + 4) * 3)) for lr in lrs]
    losses[-5:] = [3, 4, 6, 9, 12]
    suggestion, min_loss_lr = suggest_lr(lrs, losses)
    assert suggestion == pytest.approx(1e-4, rel=0.3)
    short = suggest_lr(lrs[:5], [3, 2, 1, 2, 3])
    assert short == (pytest.approx(lrs[2] / 10), lrs[2])
