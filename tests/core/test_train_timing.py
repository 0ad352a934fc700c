"""The time per epoch is measured by running real training steps, quickly, and can be stopped."""

from __future__ import annotations

import time

import pytest

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec import Conv2D, Dense, Flatten, Input, ModelSpec, template
from cnnstudio.core.train.timing import (
    EpochTiming,
    TimingStopped,
    estimate_epoch_time,
    format_duration,
)


def test_tiny_template_is_timed_quickly_with_positive_numbers():
    started = time.perf_counter()
    timing = estimate_epoch_time(
        template("tiny"),
        3,
        train_images=200,
        val_images=40,
        batch_size=16,
        warmup_steps=1,
        min_steps=2,
        max_seconds=0.3,
    )
    assert time.perf_counter() - started < 20
    assert timing.seconds_per_batch > 0
    assert timing.images_per_second > 0
    assert timing.val_seconds_per_image > 0
    assert timing.seconds_per_epoch >= timing.seconds_per_batch * 200 / 16
    assert timing.batch_size == 16 and timing.steps >= 2
    assert timing.device == "cpu"
    text = timing.describe()
    assert text.startswith("about ") and "per epoch (" in text and "images/s on this computer)" in text


def test_training_config_dict_sets_the_batch_size_and_small_datasets_cap_it():
    timing = estimate_epoch_time(
        template("tiny"),
        3,
        train_images=5,
        config={"batch_size": 64, "augment": {}},
        warmup_steps=1,
        min_steps=1,
        max_seconds=0.1,
    )
    assert timing.batch_size == 5  # never more than the training images
    assert timing.val_seconds_per_image == 0  # no validation images: not measured


def test_for_dataset_scales_without_measuring_again():
    timing = EpochTiming(0.1, 320.0, 1.0, 320, 0, 32, "cpu", "float32", 3, val_seconds_per_image=0.001)
    bigger = timing.for_dataset(3200, 1000)
    assert bigger.seconds_per_epoch == pytest.approx(0.1 * 100 + 1.0)
    assert bigger.describe(per_epoch=False).startswith("about 3.1 s per 1,000 images (320 images/s")


def test_should_stop_abandons_the_measurement():
    with pytest.raises(TimingStopped):
        estimate_epoch_time(template("tiny"), 3, train_images=64, should_stop=lambda: True)


def test_a_design_that_does_not_work_is_not_timed():
    broken = ModelSpec([Input(8, 8, 3), Conv2D(4, 9), Flatten(), Dense("auto")])
    with pytest.raises(UserError, match="no longer fits"):
        estimate_epoch_time(broken, 3, train_images=10)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.01, "0.1 s"),
        (0.42, "0.4 s"),
        (12.3, "12 s"),
        (200, "3 min 20 s"),
        (1500, "25 min"),
        (4000, "1 h 7 min"),
    ],
)
def test_durations_read_naturally(seconds, text):
    assert format_duration(seconds) == text
