"""The Evaluate section on a real tiny trained run: the confusion matrix leads to exactly its pictures,
fixes (relabel, exclude, accept) change the project and undo gives it back, Grad-CAM comes at the
picture's own size, and the report is written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gui_helpers import close_session, train_tiny_project
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFont, QImage

PICTURE_SIZE = 40  # the tiny template reads 32 x 32: the overlay must come back at 40 x 40


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data folder, project folder) with one run: the tiny template, 2 epochs (trained once)."""
    return train_tiny_project(tmp_path_factory.mktemp("evaluate"), per_class=10, size=PICTURE_SIZE)


@pytest.fixture
def section(qtbot, trained):
    """(session, EvaluationPanel) on the trained project, its validation report shown."""
    from cnnstudio.core.project import Project
    from cnnstudio.gui.evaluate.view import EvaluationPanel
    from cnnstudio.gui.session import ProjectSession

    session = ProjectSession()
    view = EvaluationPanel(session)
    qtbot.addWidget(view)
    view.resize(1300, 800)
    view.show()
    session.open_project(Project.open(trained[1]), check=False)
    qtbot.waitUntil(lambda: view.report is not None and session.labels is not None, timeout=30000)
    qtbot.waitUntil(lambda: not session.tasks.busy(), timeout=30000)
    yield session, view
    close_session(session)


def _cell_paths(report, row: int, col: int) -> set[str]:
    return {report.paths[i] for i in np.flatnonzero((report.y_true == row) & (report.y_pred == col))}


def test_clicking_a_confusion_cell_shows_exactly_its_pictures_most_confident_first(qtbot, section):
    _session, view = section
    report = view.report
    assert report.split == "val" and report.num_samples > 0
    view.left_tabs.setCurrentIndex(0)
    cells = [(r, c) for r in range(3) for c in range(3) if report.confusion[r, c]]
    cells.append(next((r, c) for r in range(3) for c in range(3) if not report.confusion[r, c]))
    for row, col in cells:
        qtbot.mouseClick(view.confusion, Qt.MouseButton.LeftButton, pos=view.confusion.cell_center(row, col))
        assert view.confusion.selected == (row, col)
        items = view.cell_gallery.items()
        assert {item.path for item in items} == _cell_paths(report, row, col)
        assert len(items) == report.confusion[row, col]
        confidences = [item.confidence for item in items]
        assert confidences == sorted(confidences, reverse=True)
        assert all(item.label == report.class_names[row] for item in items)
        assert all(item.predicted == report.class_names[col] for item in items)
    # The first picture of a non-empty cell is shown in the panel, with the probabilities as bars.
    row, col = cells[0]
    qtbot.mouseClick(view.confusion, Qt.MouseButton.LeftButton, pos=view.confusion.cell_center(row, col))
    assert view.panel.picture is not None
    assert view.panel.picture.path == view.cell_gallery.items()[0].path
    assert len(view.panel.bars.rows) == 3


def test_metrics_table_and_explanations(section):
    from cnnstudio.core.evaluate import METRIC_EXPLANATIONS
    from cnnstudio.gui.evaluate.metrics_table import EXPLANATIONS

    _session, view = section
    assert all(METRIC_EXPLANATIONS[key] == text for key, text in EXPLANATIONS.items())
    table = view.metrics.table
    assert table.rowCount() == 3 + 3  # classes, two averages, accuracy
    assert [table.item(r, 0).text() for r in range(3)] == view.report.class_names
    assert table.horizontalHeaderItem(1).toolTip() == EXPLANATIONS["precision"]
    assert "Recall" in view.metrics.legend.text()
    assert table.item(5, 3).text() == f"{view.report.accuracy * 100:.1f}%"


def _issue_for(view, path: str):
    from cnnstudio.gui.evaluate.issues_list import Issue

    report = view.report
    i = report.paths.index(path)
    label = report.class_names[int(report.y_true[i])]
    other = next(n for n in report.class_names if n != label)
    return Issue(i, path, label, other, 0.1, 0.8)


def test_relabel_changes_the_project_labels_and_undo_restores_them(qtbot, section):
    session, view = section
    project = session.project
    path = view.report.paths[0]
    key = project.key(path)
    before_label = session.labels.sample(path).label
    assert key not in project.labels  # its folder gives its label
    issue = _issue_for(view, path)
    view.issues.set_issues([issue], view.jobs.row_state)
    row = view.issues.rows[path]
    assert row.relabel.isEnabled()
    qtbot.mouseClick(row.relabel, Qt.MouseButton.LeftButton)
    assert session.labels.sample(path).label == issue.suggested
    assert project.labels[key] == issue.suggested
    assert "Now labelled" in row.status.text() and not row.relabel.isEnabled()
    session.save()
    assert json.loads(project.file.read_text())["labels"][key] == issue.suggested

    session.undo_stack.undo()
    assert session.labels.sample(path).label == before_label
    assert key not in project.labels
    assert row.relabel.isEnabled() and not row.status.text()
    session.save()
    assert key not in json.loads(project.file.read_text()).get("labels", {})

    # The picture panel relabels too (its menu offers every class), through the same command.
    view.show_picture(issue.index)
    actions = [a for a in view.panel.relabel_menu.actions() if a.text() == issue.suggested]
    actions[0].trigger()
    assert project.labels[key] == issue.suggested
    session.undo_stack.undo()
    assert key not in project.labels


def test_exclude_and_accept_are_undoable(qtbot, section):
    from cnnstudio.gui.evaluate.review import REVIEW_FILE, ReviewStore

    session, view = section
    project = session.project
    first, second = view.report.paths[:2]
    view.issues.set_issues([_issue_for(view, first), _issue_for(view, second)], view.jobs.row_state)

    qtbot.mouseClick(view.issues.rows[first].exclude, Qt.MouseButton.LeftButton)
    assert project.key(first) in project.excluded
    assert first not in {s.path for s in session.index.samples}
    assert "Left out" in view.issues.rows[first].status.text()
    session.undo_stack.undo()
    assert project.key(first) not in project.excluded
    assert first in {s.path for s in session.index.samples}

    qtbot.mouseClick(view.issues.rows[second].accept, Qt.MouseButton.LeftButton)
    assert view.issues.visible_paths() == [first]  # accepted: off the list
    assert ReviewStore(view.run_dir, project.key).is_accepted(second)  # remembered in the run folder
    assert (view.run_dir / REVIEW_FILE).exists()
    session.undo_stack.undo()
    assert view.issues.visible_paths() == [first, second]
    assert not ReviewStore(view.run_dir, project.key).is_accepted(second)


def test_grad_cam_overlay_has_the_pictures_size(qtbot, section):
    _session, view = section
    view.show_picture(0)
    with qtbot.waitSignal(view.overlay_shown, timeout=30000) as blocker:
        view.panel.gradcam.setChecked(True)
    overlay: QImage = blocker.args[0]
    original = QImage(view.report.paths[0])
    assert (overlay.width(), overlay.height()) == (PICTURE_SIZE, PICTURE_SIZE)
    assert overlay.size() == original.size()
    assert view.panel.canvas.image.size() == original.size()
    # The colour scale shows under the picture, with the words of the hint.
    assert view.panel.gradcam_scale.isVisible() and not view.panel.gradcam_scale.strip.pixmap().isNull()
    assert "red most, blue least" in view.panel.gradcam_status.text()
    view.panel.gradcam.setChecked(False)
    assert view.panel.canvas.image is view.panel.image
    assert not view.panel.gradcam_scale.isVisible()


def test_the_colour_scale_runs_blue_to_red_as_the_overlay_does():
    from cnnstudio.gui.evaluate.jobs import scale_strip

    strip = scale_strip(100, 4).astype(int)
    assert strip[0, 0, 2] > strip[0, 0, 0] and strip[0, -1, 0] > strip[0, -1, 2] + 60


def test_report_exports_html_with_pictures_and_a_csv(section, tmp_path):
    _session, view = section
    html_path, csv_path = view.export_report(tmp_path / "report.html")
    html = html_path.read_text(encoding="utf-8")
    assert html.count("src='data:image/png;base64,") == 2  # the matrix and the training curves
    assert "Precision" in html and view.report.class_names[0] in html
    rows = csv_path.read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == view.report.num_samples + 1
    assert rows[0].startswith("path,label,predicted,correct,confidence,loss,p_class_0")


def test_another_folder_is_evaluated_and_cannot_be_relabelled(qtbot, section, trained):
    session, view = section
    with qtbot.waitSignal(view.report_shown, timeout=30000):
        view.set_folder(trained[0])
    assert view.report.num_samples == 30
    assert view.issues.summary.text()
    assert not view.jobs.row_state(view.report.paths[0]).editable


@pytest.mark.parametrize("k", [2, 10, 50])
def test_confusion_matrix_stays_readable_from_2_to_50_classes(qtbot, k):
    from cnnstudio.gui.evaluate.confusion import MIN_CELL, ConfusionMatrixView, compute_layout, max_label_px

    names = [f"class number {i} with a long name" if i % 7 == 0 else f"c{i}" for i in range(k)]
    layout = compute_layout(QRectF(0, 0, 700, 700), names, QFont())
    assert layout.cell >= MIN_CELL
    assert layout.grid.right() <= 700 and layout.grid.bottom() <= 700
    widths = [layout.label_font.pixelSize()]
    assert 7 <= widths[0] <= 12
    from PySide6.QtGui import QFontMetrics

    metrics = QFontMetrics(layout.label_font)
    assert all(metrics.horizontalAdvance(n) <= max_label_px(k) for n in layout.row_names)
    assert (layout.number_font is not None) == (k <= 10)  # numbers only where they fit
    assert layout.rotated == (k > 2)
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    counts = np.eye(k, dtype=np.int64) * 5 + 1
    view.set_matrix(counts, names)
    view.resize(700, 700)
    tip = view.cell_tooltip(0, 1)
    assert names[0] in tip and names[1] in tip  # full names, however short the labels
    image = view.render_image()
    assert not image.isNull() and image.width() >= 360


def test_evaluation_follows_the_weights_it_names_during_and_after_training(qtbot, trained, tmp_path):
    """A run that is still training writes new best weights: the evaluation shown says it is out of
    date; once training ends it is evaluated again on the new weights, never left under the run's name."""
    import os
    import shutil

    from safetensors.torch import load_file, save_file

    from cnnstudio.core.project import Project
    from cnnstudio.gui.evaluate.view import EvaluationPanel
    from cnnstudio.gui.session import ProjectSession

    folder = tmp_path / "proj"
    shutil.copytree(trained[1], folder)
    run_dir = next(p for p in (folder / "runs").iterdir() if (p / "best.safetensors").exists())
    state_file = run_dir / "state.json"
    finished = json.loads(state_file.read_text())
    session = ProjectSession()
    view = EvaluationPanel(session)
    qtbot.addWidget(view)
    view.show()
    try:
        session.open_project(Project.open(folder), check=False)
        qtbot.waitUntil(lambda: view.report is not None and not view.jobs.evaluating, timeout=30000)
        before = view.report
        assert "model of epoch" in view.summary.text()
        # Training goes on (this process's pid: alive) and saves a new best model, other weights.
        state_file.write_text(json.dumps({**finished, "status": "running", "pid": os.getpid()}))
        view.check_up_to_date()
        assert "Training is still under way" in view.summary.text()
        weights = load_file(run_dir / "best.safetensors")
        save_file(
            {k: v * 0 if v.is_floating_point() else v for k, v in weights.items()},
            run_dir / "best.safetensors",
        )
        view.check_up_to_date()
        assert view.report is before and "Out of date" in view.summary.text()
        # Training ends: the evaluation is redone on the new weights without being asked.
        state_file.write_text(json.dumps(finished))
        view.check_up_to_date()
        qtbot.waitUntil(lambda: view.report is not before and not view.jobs.evaluating, timeout=30000)
        assert "Out of date" not in view.summary.text()
        probs = view.report.probs
        assert np.allclose(probs, probs[0])  # zeroed weights: the same answer for every picture
        assert not np.allclose(before.probs, probs)
    finally:
        close_session(session)


def test_evaluate_shows_the_same_validation_accuracy_as_the_run_list(section):
    """One number: the run list gives the kept model's validation accuracy, which Evaluate measures."""
    from cnnstudio.core.runs import load_run

    _session, view = section
    assert view.report.split == "val"
    record = load_run(view.run_dir)
    assert abs(record.best_val_accuracy - view.report.accuracy) < 1e-6
    # Both say how many pictures graded the run, and that people labelled them.
    assert record.graded == view.report.num_samples and record.graded_by_people
    assert f"{record.graded} validation pictures labelled by people" in view.summary.text()


def test_confidence_tab_and_pictures_unlike_the_training_ones(qtbot, section):
    _session, view = section
    report = view.report
    cal = report.calibration
    assert cal is not None and cal["calibrated"] and len(cal["bins"]) == 15
    page = view.calibration_page
    assert page.chart.after == cal["bins"] and page.chart.before == cal["bins_before"]
    assert "Calibration error on these pictures" in page.numbers.text()
    assert "right 80% of the time" in page.caption.text()
    view.left_tabs.setCurrentWidget(page)
    image = page.chart.grab().toImage()
    assert image.width() > 100 and image.height() > 100
    flagged = report.flagged_unknown()
    assert view.middle_tabs.tabText(3) == f"Unlike training ({len(flagged)})"
    assert [item.path for item in view.unknown_gallery.items()] == [row["path"] for row in flagged]
    # A report from before calibration: the tab says so in plain words.
    page.set_calibration(None)
    assert "not calibrated" in page.numbers.text() and page.chart.after == []


def test_clicking_a_picture_unlike_the_training_ones_shows_it(qtbot, section):
    """The "Unlike training" gallery leads to its pictures like the other galleries: a click shows that
    picture on the right (it kept the previous one)."""
    _session, view = section
    report = view.report
    # A lower threshold than the run's, so that several pictures are flagged on this tiny set.
    report.unknown_threshold = float(np.median(report.unknown_scores)) - 1e-6
    view.show_report(report, view.run_dir)
    items = view.unknown_gallery.items()
    assert len(items) >= 2
    view.middle_tabs.setCurrentIndex(3)
    shown_before = view.panel.picture.path if view.panel.picture is not None else None
    for item in (items[1], items[0]):
        assert item.path != shown_before
        rect = view.unknown_gallery.visualRect(view.unknown_gallery.model().index(items.index(item), 0))
        qtbot.mouseClick(view.unknown_gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert view.panel.picture is not None and view.panel.picture.path == item.path
        shown_before = item.path


def test_the_status_bar_says_what_evaluating_does_not_a_count_of_every_picture(qtbot, section):
    """Reading the pictures counts all the project's pictures (1,797 on the demo); the evaluation of
    the validation ones (269) that follows must not be shown as "1,797 / 1,797"."""
    session, view = section
    events = []

    def follow(task):
        task.progressed.connect(lambda done, total: events.append(("progress", done, total)))
        task.text_changed.connect(lambda text: events.append(("text", text)))

    session.tasks.task_started.connect(follow)
    view.evaluate(force=True)
    qtbot.waitUntil(lambda: not view.jobs.evaluating, timeout=30000)
    counts = [e[1:] for e in events if e[0] == "progress"]
    assert any(total > view.report.num_samples for _done, total in counts)  # all pictures were read
    assert counts[-1] == (0, 0)  # then: busy, no count
    texts = [e[1] for e in events if e[0] == "text"]
    assert texts[-1] == f"Evaluating run {view.run_dir.name} on the validation pictures"
