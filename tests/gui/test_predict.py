"""The Predict section on a real tiny trained run: a folder fills the table and the CSV, the "unknown"
threshold relabels at once, pictures are copied (or, after asking, moved) into class folders, and a
.cnnmodel file predicts like the run it came from."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from gui_helpers import close_session, train_tiny_project
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny_project(tmp_path_factory.mktemp("predict"))


@pytest.fixture
def section(qtbot, trained):
    from cnnstudio.core.project import Project
    from cnnstudio.gui.predict.view import PredictPanel
    from cnnstudio.gui.session import ProjectSession

    session = ProjectSession()
    view = PredictPanel(session)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    session.open_project(Project.open(trained[1]), check=False)
    qtbot.waitUntil(lambda: view.model_source is not None and not session.tasks.busy(), timeout=20000)
    yield session, view
    close_session(session)


def _predict(qtbot, view, inputs):
    with qtbot.waitSignal(view.predicted, timeout=30000) as blocker:
        view.add_inputs(inputs)
    qtbot.waitUntil(lambda: not view.jobs.busy(), timeout=10000)
    return blocker.args[0]


def test_predicting_a_folder_fills_the_table_and_the_csv(qtbot, section, trained, tmp_path):
    _session, view = section
    data = trained[0]
    (data / "notes.txt").write_text("not a picture")  # skipped: not a picture name
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    result = _predict(qtbot, view, [str(data), str(broken)])
    pictures = sorted(str(p) for p in data.rglob("*") if p.suffix in (".png", ".jpg"))
    assert sorted(p.path for p in result.predictions) == pictures
    model = view.results
    assert model.rowCount() == len(pictures) + 1  # the unreadable file is a row too
    classes = {model.index(r, 2).data() for r in range(len(pictures))}
    assert classes <= {"class_0", "class_1", "class_2"}
    assert model.index(len(pictures), 2).data() == "not predicted"
    assert "18 pictures" in view.summary.text() and "1 could not be read" in view.summary.text()

    rows = list(csv.DictReader(view.export_csv(tmp_path / "out.csv").open(encoding="utf-8-sig")))
    assert len(rows) == len(pictures) + 1
    by_path = {row["path"]: row for row in rows}
    for p in result.predictions:
        assert by_path[p.path]["label"] == p.label
        assert abs(float(by_path[p.path]["confidence"]) - p.confidence) < 1e-5
        assert by_path[p.path]["top_1"] == p.top[0][0]
    assert by_path[str(broken)]["problem"]

    # The threshold relabels at once (no second run of the model), and the CSV follows.
    view.set_threshold(0.99)
    unsure = [p for p in result.predictions if p.confidence < 0.99]
    labels = [model.index(r, 2).data() for r in range(len(pictures))]
    assert labels.count("unknown") == len(unsure)
    rows = list(csv.DictReader(view.export_csv(tmp_path / "out2.csv").open(encoding="utf-8-sig")))
    assert sum(row["label"] == "unknown" for row in rows) == len(unsure)
    assert not view.jobs.busy()


def test_copy_and_move_into_class_folders(qtbot, section, trained, tmp_path, monkeypatch):
    session, view = section
    inputs = tmp_path / "new"
    shutil.copytree(trained[0] / "class_1", inputs)  # copies: moving must not touch the dataset
    result = _predict(qtbot, view, [str(inputs)])
    # A picture flagged as unlike the training pictures goes to unknown/, the others to their class.
    labels = {Path(p.path).name: "unknown" if p.unknown else p.label for p in result.predictions}

    with qtbot.waitSignal(view.sorted_into, timeout=20000) as blocker:
        view.sort_into(move=False, dest=tmp_path / "copied")
    assert len(blocker.args[0]) == len(labels)
    for name, label in labels.items():
        assert (tmp_path / "copied" / label / name).exists()
        assert (inputs / name).exists()

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    view.sort_into(move=True, dest=tmp_path / "moved")
    qtbot.wait(200)
    assert not (tmp_path / "moved").exists()  # asked, and the answer was no

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(view.sorted_into, timeout=20000):
        view.sort_into(move=True, dest=tmp_path / "moved")
    for name, label in labels.items():
        assert (tmp_path / "moved" / label / name).exists()
        assert not (inputs / name).exists()
    # The table follows the pictures to where they are now.
    assert all(Path(p.path).parent.parent == tmp_path / "moved" for p in view.results.predictions)
    qtbot.waitUntil(lambda: not session.tasks.busy(), timeout=10000)

    # Undo move puts every picture back (from the journal), and the table follows them back.
    assert view.undo_sort_button.isVisible() and view.last_sort_journal.exists()
    with qtbot.waitSignal(view.sort_undone, timeout=20000) as undone:
        qtbot.mouseClick(view.undo_sort_button, Qt.MouseButton.LeftButton)
    assert len(undone.args[0]) == len(labels)
    for name in labels:
        assert (inputs / name).exists()
    assert not (tmp_path / "moved").exists()
    assert all(Path(p.path).parent == inputs for p in view.results.predictions)
    assert not view.undo_sort_button.isVisible()
    qtbot.waitUntil(lambda: not session.tasks.busy(), timeout=10000)


def test_a_move_that_fails_part_way_keeps_the_table_true(qtbot, section, trained, tmp_path, monkeypatch):
    session, view = section
    inputs = tmp_path / "new"
    shutil.copytree(trained[0] / "class_1", inputs)
    result = _predict(qtbot, view, [str(inputs)])
    order = [p.path for p in view.results.labelled()]
    Path(order[2]).unlink()  # gone before the move reaches it
    errors = []
    session.error.connect(errors.append)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(view.sorted_into, timeout=20000) as blocker:
        view.sort_into(move=True, dest=tmp_path / "moved")
    assert len(blocker.args[0]) == 2 and "2 pictures were already moved" in errors[-1]
    # Each row names where its picture is now: the two moved ones in moved/, the rest where they were.
    paths = {p.path for p in view.results.predictions}
    assert {to for _, to in blocker.args[0]} <= paths and not set(order[:2]) & paths
    assert set(order[3:]) <= paths and all(Path(p).exists() for p in paths if p != order[2])
    with qtbot.waitSignal(view.sort_undone, timeout=20000):
        view.undo_sort()
    assert all(Path(p).exists() for p in order[:2] + order[3:])
    assert len(result.predictions) == len(view.results.predictions)
    qtbot.waitUntil(lambda: not session.tasks.busy(), timeout=10000)


def test_a_cnnmodel_file_predicts_like_its_run(qtbot, section, trained, tmp_path):
    from cnnstudio.core.export import export_run

    _session, view = section
    from_run = _predict(qtbot, view, [str(trained[0] / "class_0")])
    bundle = export_run(trained[1], "bundle", tmp_path / "model.cnnmodel").path
    with qtbot.waitSignal(view.predicted, timeout=30000) as blocker:
        view.open_model_file(bundle)  # another model: the pictures are predicted again
    assert view.model_combo.currentText() == "model.cnnmodel"
    from_file = blocker.args[0]
    assert [(p.path, p.label) for p in from_file.predictions] == [
        (p.path, p.label) for p in from_run.predictions
    ]
    assert view.model_info.text() == "3 classes"


def test_unknown_pictures_are_marked_and_the_control_starts_at_the_runs_threshold(
    qtbot, section, trained, tmp_path
):
    import json

    import numpy as np
    from PIL import Image

    _session, view = section
    run = sorted((trained[1] / "runs").iterdir())[-1]
    threshold = json.loads((run / "calibration.json").read_text(encoding="utf-8"))["unknown"]["threshold"]
    odd = tmp_path / "odd"
    odd.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(odd / f"noise_{i}.png")
    result = _predict(qtbot, view, [str(odd), str(trained[0] / "class_0")])
    assert result.unknown_threshold == pytest.approx(threshold)
    assert view.unknown_box.isEnabled() and view.unknown_box.value() == pytest.approx(threshold, abs=0.01)
    model = view.results
    n = len(result.predictions)
    marks = [model.index(r, 5).data() for r in range(n)]
    for r, p in enumerate(model.predictions):
        assert marks[r] == (
            "unlike the training pictures" if p.unknown_score > model.unknown_threshold else "no"
        )
        tip = model.index(r, 5).data(Qt.ItemDataRole.ToolTipRole)
        assert f"{p.unknown_score:.3g}" in tip and f"{model.unknown_threshold:.3g}" in tip  # the number

    # Strictest: every picture is marked, the summary says so, and sorting puts them in unknown/.
    view.set_unknown_threshold(0.0)
    assert all(model.index(r, 5).data() == "unlike the training pictures" for r in range(n))
    assert f"{n} look unlike the training pictures" in view.summary.text()
    assert "unlike the training" in model.index(0, 5).data() and "unlike the pictures" in model.index(
        0, 2
    ).data(Qt.ItemDataRole.ToolTipRole)
    assert all(p.unknown for p in view.result().predictions)
    with qtbot.waitSignal(view.sorted_into, timeout=20000):
        view.sort_into(move=False, dest=tmp_path / "sorted")
    assert len(list((tmp_path / "sorted" / "unknown").iterdir())) == n
    # Back to the run's own threshold with one click.
    view.unknown_reset.click()
    assert view.unknown_box.value() == pytest.approx(threshold, abs=0.01)
    qtbot.waitUntil(lambda: not _session.tasks.busy(), timeout=10000)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A project whose newer run is the worse one: a trained run, then a run of one epoch at a
    learning rate too small to learn anything."""
    from cnnstudio.cli import main
    from cnnstudio.core.runs import load_run

    data, project = train_tiny_project(tmp_path_factory.mktemp("two_runs"), per_class=20)
    args = ["train", str(project), "--template", "tiny", "--epochs", "1", "--lr", "1e-7", "--json"]
    assert main([*args, "--batch-size", "8"]) == 0
    good, bad = sorted((project / "runs").iterdir())
    assert load_run(good).best_val_accuracy > load_run(bad).best_val_accuracy
    return project, good, bad


def test_predict_starts_on_the_best_run_and_says_which(qtbot, two_runs):
    from cnnstudio.core.project import Project
    from cnnstudio.core.runs import load_run
    from cnnstudio.gui.predict.view import PredictPanel
    from cnnstudio.gui.session import ProjectSession

    project, good, bad = two_runs
    session = ProjectSession()
    view = PredictPanel(session)
    qtbot.addWidget(view)
    view.show()
    try:
        session.open_project(Project.open(project), check=False)
        qtbot.waitUntil(lambda: view.model_source is not None, timeout=20000)
        assert view.model_combo.itemData(0) == str(bad)  # the list stays newest first
        assert view.model_source == str(good)
        accuracy = load_run(good).best_val_accuracy
        assert view.model_info.text() == f"Best run (validation {accuracy * 100:.0f}%)"
        assert good.name in view.model_info.toolTip()
        # Another run chosen by hand: the words go; the best again: they come back.
        view.model_combo.setCurrentIndex(0)
        assert view.model_info.text() == ""
        view.model_combo.setCurrentIndex(view.model_combo.findData(str(good)))
        assert view.model_info.text().startswith("Best run (validation")
    finally:
        close_session(session)


def test_a_new_project_does_not_keep_the_last_models_unknown_threshold(qtbot, section, trained, tmp_path):
    from cnnstudio.core.project import Project

    session, view = section
    _predict(qtbot, view, [str(trained[0] / "class_0")])
    assert view.unknown_box.isEnabled() and view.unknown_box.text() != ""
    fresh = tmp_path / "fresh"
    shutil.copytree(trained[0], fresh)
    session.open_project(Project.create(tmp_path / "fresh_project", fresh), check=False)
    qtbot.waitUntil(lambda: not session.tasks.busy(), timeout=20000)
    assert view.model_source is None  # no run yet
    assert not view.unknown_box.isEnabled() and view.unknown_box.text() == ""
    assert view.results.unknown_threshold is None
