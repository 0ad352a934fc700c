"""The coach proposes fine-tuning the last run once enough pictures were labelled; one click starts it."""

from __future__ import annotations

import json

import pytest
from training_helpers import panel_factory, wait_tasks, wait_trained


@pytest.fixture
def make_panel(qtbot, tmp_path, tiny_image_folder):
    yield from panel_factory(qtbot, tmp_path, tiny_image_folder)


def test_new_labels_bring_the_proposal_and_its_button_fine_tunes(make_panel, qtbot):
    panel = make_panel(epochs=2, per_class=10)
    session = panel.session
    held_back = {}
    for s in session.index.samples:
        if s.path.endswith(("img_006.png", "img_007.jpg", "img_008.png", "img_009.jpg")):
            held_back[s.path] = s.label
    session.apply_edit(session.labels.assign(list(held_back), None))
    lr = panel.config().lr
    assert panel.start()
    wait_trained(qtbot, panel)
    wait_tasks(qtbot, panel)
    first = panel.last_outcome.run_dir
    assert panel.retrain_button.isHidden()
    # Label the held-back pictures again: 12 new labels since the run (it saw 18): the coach speaks.
    for label in sorted(set(held_back.values())):
        paths = [p for p, lab in held_back.items() if lab == label]
        session.apply_edit(session.labels.assign(paths, label))
    assert not panel.retrain_button.isHidden()
    assert panel.advice.code == "retrain" and "12 pictures were labelled" in panel.advice.text
    panel.retrain_button.click()
    assert panel.is_training()
    wait_trained(qtbot, panel)
    tuned = panel.last_outcome.run_dir
    assert panel.last_outcome.status == "finished" and tuned != first
    config = json.loads((tuned / "config.json").read_text())
    assert str(first) in str(config["init_weights"])
    assert config["train"]["lr"] == pytest.approx(lr / 10) and config["train"]["epochs"] == 3
    wait_tasks(qtbot, panel)
    panel.section_shown()
    assert panel.retrain_button.isHidden()  # the new run saw the new labels
