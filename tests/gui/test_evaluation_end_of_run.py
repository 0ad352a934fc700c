"""Evaluate open while a run trains, on a real run: the result shown when training ends is the
calibrated one (the same as "Evaluate again"), and the run picker stops saying "running"."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
from gui_helpers import wait_idle
from PySide6.QtCore import Qt

from cnnstudio.core.trust import Calibration


def _noisy_labels(data) -> None:
    """Every fifth picture of each class moved to the next class: the model makes mistakes on the
    validation pictures, so the temperature is fitted (not kept at 1) and the confidences change."""
    classes = sorted(p for p in data.iterdir() if p.is_dir())
    for c, folder in enumerate(classes):
        target = classes[(c + 1) % len(classes)]
        for i, picture in enumerate(sorted(folder.iterdir())):
            if i % 5 == 0:
                shutil.move(picture, target / f"moved_{c}_{picture.name}")


@pytest.fixture
def train_and_evaluate(qtbot, tmp_path, tiny_image_folder):
    """(TrainingPanel, EvaluationPanel) on one session: 3 classes x 80 pictures (about 36 for
    validation, enough to calibrate), the 'tiny' design, 3 epochs."""
    from cnnstudio.core.project import Project
    from cnnstudio.core.spec import template
    from cnnstudio.gui.evaluate.view import EvaluationPanel
    from cnnstudio.gui.session import ProjectSession
    from cnnstudio.gui.train.panel import TrainingPanel

    data = tiny_image_folder(classes=3, per_class=80)
    _noisy_labels(data)
    project = Project.create(tmp_path / "proj", data)
    project.spec = template("tiny").to_dict()
    session = ProjectSession()
    session.open_project(project)
    wait_idle(qtbot, session)
    panel = TrainingPanel(session)
    view = EvaluationPanel(session)
    for widget in (panel, view):
        qtbot.addWidget(widget)
        widget.resize(1300, 800)
        widget.show()
    config = panel.config()
    config.epochs, config.batch_size = 3, 16
    panel.set_config(config)
    yield panel, view
    panel.stop_and_wait(120)  # a failed test leaves the run going: a running panel asks before closing
    session.tasks.cancel_all()
    session.deleteLater()


def test_the_result_shown_when_training_ends_is_the_calibrated_one(qtbot, monkeypatch, train_and_evaluate):
    from cnnstudio.core import pipeline

    panel, view = train_and_evaluate
    epochs_over, go_on = threading.Event(), threading.Event()
    calibrate = pipeline.calibrate_run

    def calibrate_when_told(*args, **kwargs):
        # The window between the last epoch and the calibration, held open: the run's state.json
        # already says "finished" and its calibration does not exist yet.
        epochs_over.set()
        go_on.wait(60)
        return calibrate(*args, **kwargs)

    monkeypatch.setattr(pipeline, "calibrate_run", calibrate_when_told)
    try:
        assert panel.start()
        # Evaluate is open while the run trains: it shows the best model so far.
        runs = panel.session.project.runs_dir
        qtbot.waitUntil(lambda: any(runs.glob("*/best.safetensors")), timeout=60000)
        view.section_shown()
        qtbot.waitUntil(lambda: view.report is not None and not view.jobs.evaluating, timeout=30000)
        qtbot.waitUntil(epochs_over.is_set, timeout=60000)
        view.check_up_to_date()  # the watch's tick after the last epoch, before calibration
        qtbot.waitUntil(lambda: not view.jobs.evaluating, timeout=30000)
        assert "Not final yet" in view.summary.text()
    finally:
        go_on.set()  # never leave the training job waiting
    qtbot.waitUntil(lambda: not panel.is_training(), timeout=60000)
    qtbot.waitUntil(lambda: not view.jobs.evaluating and not panel.session.tasks.busy(), timeout=30000)

    shown = view.report
    saved = Calibration.load(next(runs.iterdir()))
    assert shown.calibration["calibrated"] and saved.fitted
    assert shown.calibration["temperature"] == saved.temperature
    assert shown.unknown_threshold == saved.threshold and shown.unknown_scores is not None
    assert "Calibration error on these pictures" in view.calibration_page.numbers.text()
    text = view.summary.text()
    assert "Not final yet" not in text and "Out of date" not in text and "under way" not in text
    # The picker names the run as it is now: finished, all its epochs.
    assert "running" not in view.run_combo.currentText()
    assert "3/3 epochs" in view.run_combo.currentText()
    # "Evaluate again" gives the same confidences, label errors and unlike-training pictures.
    qtbot.mouseClick(view.evaluate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.report is not shown and not view.jobs.evaluating, timeout=30000)
    again = view.report
    assert np.allclose(shown.probs, again.probs, atol=1e-6)
    assert len(shown.label_issues()) == len(again.label_issues())
    assert [r["path"] for r in shown.flagged_unknown()] == [r["path"] for r in again.flagged_unknown()]
    assert "running" not in view.run_combo.currentText()
