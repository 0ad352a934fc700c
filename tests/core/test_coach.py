"""The coach reads the curves and says one thing in plain words (no Qt, no torch)."""

from __future__ import annotations

import math

import pytest

from cnnstudio.core.train.coach import Advice, CoachContext, coach


def epochs(loss, val_loss=None, accuracy=None, val_accuracy=None):
    out = []
    for i, value in enumerate(loss):
        out.append(
            {
                "epoch": i,
                "loss": value,
                "accuracy": accuracy[i] if accuracy else 0.5,
                "val_loss": val_loss[i] if val_loss else None,
                "val_accuracy": val_accuracy[i] if val_accuracy else None,
            }
        )
    return out


def test_waits_for_a_few_epochs():
    advice = coach(epochs([1.0, 0.8]))
    assert advice == Advice("info", "waiting", advice.text)
    assert "3 epochs" in advice.text and "(2 so far)" in advice.text


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_loss_means_a_lower_learning_rate(bad):
    advice = coach(epochs([1.0, bad]), CoachContext(lr=0.01))
    assert advice.level == "problem" and advice.code == "nan"
    assert "0.001 instead of 0.01" in advice.text
    # A NaN in the batches is caught before the epoch ends, even in the first epoch.
    assert coach([], batch_losses=[0.9, math.nan]).code == "nan"
    assert coach(epochs([1.0, 0.9]), CoachContext(), batch_losses=[0.5, 0.4]).code == "waiting"


def test_overfitting_suggests_what_is_not_in_use_yet():
    history = epochs(
        loss=[1.0, 0.7, 0.5, 0.35, 0.25, 0.18],
        val_loss=[1.0, 0.8, 0.7, 0.75, 0.82, 0.9],
    )
    advice = coach(history)
    assert advice.level == "warning" and advice.code == "overfitting"
    assert "risen for 3 epochs (lowest at epoch 3)" in advice.text
    for hint in ("augmentation", "Dropout", "early stopping"):
        assert hint in advice.text
    used = coach(history, CoachContext(augmenting=True, dropout=True, early_stopping=True))
    assert "stronger" in used.text and "Dropout" not in used.text
    assert "keep the best weights" in used.text


def test_a_single_noisy_validation_epoch_is_not_overfitting():
    history = epochs(loss=[1.0, 0.7, 0.5, 0.4], val_loss=[1.0, 0.8, 0.7, 0.72])
    advice = coach(history)
    # Not a warning: "steady", saying one epoch is not a trend.
    assert advice.level == "info" and advice.code == "steady"
    assert "one epoch is not a trend" in advice.text


def test_flat_loss_points_at_the_learning_rate():
    advice = coach(epochs([0.80, 0.797, 0.795, 0.794], accuracy=[0.6, 0.61, 0.61, 0.61]))
    assert advice.code == "flat" and "learning rate" in advice.text
    stuck = coach(epochs([2.30, 2.301, 2.30], accuracy=[0.1] * 3), CoachContext(num_classes=10))
    assert stuck.code == "stuck" and "guesses at random" in stuck.text


def test_converged_and_memorising():
    done = coach(epochs([0.3, 0.1, 0.02], accuracy=[0.9, 0.97, 1.0]))
    assert done.level == "good" and done.code == "converged"
    gap = coach(
        epochs(
            [0.3, 0.1, 0.02],
            val_loss=[0.5, 0.45, 0.44],
            accuracy=[0.9, 0.97, 1.0],
            val_accuracy=[0.7, 0.71, 0.72],
        )
    )
    assert gap.code == "gap" and "100%" in gap.text and "72%" in gap.text


def test_improving_and_more_epochs_at_the_end():
    history = epochs([1.0, 0.8, 0.6], val_loss=[1.1, 0.9, 0.7])
    assert coach(history).code == "improving"
    assert "validation loss" in coach(history).text
    ended = coach(history, CoachContext(finished=True))
    assert ended.code == "more_epochs" and "continue this run" in ended.text
    assert coach(epochs([1.0, 0.8, 0.6])).text.startswith("The training loss")
    assert coach(epochs([1.0, 0.8, 0.6], val_loss=[1.1, 0.7, 0.72])).code == "steady"


def test_at_the_end_of_a_run_the_coach_sums_it_up():
    # 40 epochs, best at 16: the validation loss rose after it while the training loss kept falling.
    loss = [1.0 - 0.02 * i for i in range(40)]
    val_loss = [1.0 - 0.03 * i for i in range(16)] + [0.55 + 0.01 * i for i in range(24)]
    history = epochs(loss, val_loss=val_loss)
    ended = coach(history, CoachContext(finished=True))
    assert ended.text.startswith("Run summary: the best epoch was 16 of 40")
    assert "24 epochs after it did not improve" in ended.text
    assert "augmentation" in ended.text and "keep watching" not in ended.text
    # A flat end after a best epoch: no "keep watching", a summary with what to try next.
    steady = coach(
        epochs([1.0, 0.8, 0.6, 0.5, 0.45], val_loss=[1.1, 0.9, 0.7, 0.71, 0.705]), CoachContext(finished=True)
    )
    assert steady.code == "summary" and "best epoch was 3 of 5" in steady.text
    assert "keep watching" not in steady.text and "early stopping" in steady.text


def test_a_finished_run_under_three_epochs_gets_advice_not_so_far():
    ended = coach(epochs([1.0, 0.8], val_loss=[1.1, 0.9]), CoachContext(finished=True))
    assert ended.code == "too_short"
    assert (
        "so far" not in ended.text and "best epoch was 2 of 2" in ended.text and "more epochs" in ended.text
    )


def test_random_backbone_weights_are_named_first_during_and_after_a_run():
    """Issue 23 item 6: a run whose frozen pre-trained network had random weights hears that first,
    not 'more epochs' or 'no augmentation'."""
    from cnnstudio.core.train.coach import CoachContext, coach

    epochs = [
        {"loss": 2.3 - 0.01 * i, "accuracy": 0.19, "val_loss": 2.3 - 0.01 * i, "val_accuracy": 0.19}
        for i in range(2)
    ]
    ctx = CoachContext(random_backbone="ResNet-18", augmenting=False)
    during = coach(epochs, ctx)
    assert during.code == "random_weights" and during.level == "problem"
    assert during.text.startswith("ResNet-18 had no pre-trained weights")
    end = coach(epochs, CoachContext(random_backbone="ResNet-18", finished=True))
    assert end.text.startswith("ResNet-18 had no pre-trained weights") and "Run summary" in end.text
    assert end.text.index("pre-trained weights") < end.text.index("epochs")
    assert coach(epochs, CoachContext(finished=True)).code != "random_weights"
