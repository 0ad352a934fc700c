"""The Train section with a frozen backbone: the "Computing features" phase, and the coach's note on
how much faster an augmented run would be without augmentation (the feature cache)."""

from __future__ import annotations

import pytest
from training_helpers import panel_factory, wait_trained


@pytest.fixture
def make_panel(qtbot, tmp_path, tiny_image_folder):
    yield from panel_factory(qtbot, tmp_path, tiny_image_folder)


def frozen_design():
    from cnnstudio.core.spec import ModelSpec
    from cnnstudio.core.spec.backbones import Backbone
    from cnnstudio.core.spec.layers import Dense, Dropout, Input

    return ModelSpec(
        [
            Input(32, 32, 3),
            Backbone("mobilenet_v3_small", weights="random", train_blocks=0),
            Dropout(0.2),
            Dense("auto", activation="softmax"),
        ],
        name="frozen",
    ).to_dict()


def train(qtbot, panel, augment):
    panel.session.project.spec = frozen_design()
    config = panel.config()
    config.augment = augment
    panel.set_config(config)
    phases = []
    panel.worker.updated.connect(lambda update: update.phase and phases.append(dict(update.phase)))
    assert panel.start()
    wait_trained(qtbot, panel)
    return phases


def test_the_train_section_shows_the_feature_phase(qtbot, make_panel):
    from cnnstudio.core.train import AugmentConfig

    panel = make_panel(epochs=2)
    phases = train(qtbot, panel, AugmentConfig.none())
    assert phases and all(p["phase"] == "Computing features" for p in phases)
    assert phases[-1]["finished"] is True
    total = phases[-1]["total"]
    assert total > 0
    panel.progress.phase({"phase": "Computing features", "done": 3, "total": total})
    assert panel.progress.epoch_bar.format() == f"Computing features: 3 of {total}"
    assert panel.progress.epoch_bar.value() == int(1000 * 3 / total)
    panel.progress.phase(phases[-1])
    assert panel.progress.epoch_bar.format().startswith(f"Computing features: {total} done in")
    # The one-off feature time is left out of the time-left estimate of the later epochs.
    panel.progress.phase({**phases[-1], "seconds": 9.0})
    panel.progress.epoch_done({"epoch": 0, "seconds": 10.0})
    assert panel.progress.epoch_seconds[-1] == pytest.approx(1.0)


def test_an_augmented_frozen_backbone_says_how_much_faster_it_would_be(qtbot, make_panel):
    from cnnstudio.core.train import AugmentConfig

    panel = make_panel(epochs=1)
    phases = train(qtbot, panel, AugmentConfig.default())
    assert not phases  # augmented pictures change every epoch: no feature cache
    text = panel.coach_label.text()
    assert "With augmentation off, each epoch after the first would be about" in text, text
