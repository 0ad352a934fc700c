"""The comparison view on two real tiny runs: the run list, settings that differ highlighted, the best
metric in bold, F1 per class, curves overlaid; and the Search section that holds it."""

from __future__ import annotations

import pytest
from image_fixtures import write_tiny_image_folder
from PySide6.QtCore import Qt


@pytest.fixture(scope="module")
def project_with_runs(tmp_path_factory):
    from cnnstudio.core.pipeline import train_project
    from cnnstudio.core.project import Project
    from cnnstudio.core.spec import template
    from cnnstudio.core.train import AugmentConfig, TrainConfig

    root = tmp_path_factory.mktemp("compare_view")
    project = Project.create(
        root / "proj", write_tiny_image_folder(root / "data", classes=3, per_class=10, size=32)
    )
    none = AugmentConfig.none()
    a = train_project(
        project, template("tiny"), TrainConfig(epochs=2, batch_size=8, augment=none), label="a"
    ).run_dir
    b = train_project(
        project, template("tiny"), TrainConfig(epochs=3, batch_size=16, lr=0.01, augment=none), label="b"
    )
    return project.folder, [a, b.run_dir]


@pytest.fixture
def session(qtbot, project_with_runs):
    from cnnstudio.core.project import Project
    from cnnstudio.gui.session import ProjectSession

    session = ProjectSession()
    session.open_project(Project.open(project_with_runs[0]), check=False)
    yield session
    session.shutdown()
    session.deleteLater()


def test_runs_side_by_side(qtbot, session, project_with_runs):
    from cnnstudio.gui.search.compare.view import CompareView

    _, (a, b) = project_with_runs
    view = CompareView(session)
    qtbot.addWidget(view)
    view.resize(1300, 820)
    view.show()
    assert view.run_list.count() == 2 and "b — finished" in view.run_list.item(0).text()
    with qtbot.waitSignal(view.comparison_shown, timeout=20000):
        view.set_runs([a, b])
    assert set(view.checked_runs()) == {a, b}
    assert [r.path for r in view.comparison.runs] == [a, b]  # oldest on the left
    assert "settings differ" in view.title.text()

    table = view.settings_table
    labels = [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]
    assert {"Learning rate", "Batch size", "Epochs"} <= set(labels) and "Optimizer" not in labels
    row = labels.index("Batch size")
    assert [table.item(row, c).text() for c in range(2)] == ["8", "16"]
    assert table.item(row, 0).background().color().alpha() > 0  # highlighted: it differs
    view.only_differences.setChecked(False)
    labels = [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]
    assert "Optimizer" in labels and "Model design" in labels

    metrics = view.metrics_table
    names = [metrics.verticalHeaderItem(r).text() for r in range(metrics.rowCount())]
    row = names.index("Validation accuracy")
    best = view.comparison.metrics[row].best
    if best is not None:
        assert metrics.item(row, best).font().bold()
    assert metrics.item(row, 0).text().endswith("%")
    assert view.f1_table.rowCount() == 3 and view.tabs.tabText(2) == "F1 per class (validation)"
    curves = [i for i in view.accuracy_plot.getPlotItem().listDataItems()]
    assert len(curves) == 4  # validation and training for each run
    assert len(view.accuracy_plot.getPlotItem().listDataItems()[1].getData()[0]) in (2, 3)

    # Unticking one run compares the other alone.
    with qtbot.waitSignal(view.comparison_shown, timeout=20000):
        view.run_list.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert len(view.comparison.runs) == 1


def test_the_search_section_holds_the_panel_and_the_comparison(qtbot, session):
    from cnnstudio.gui.search.section import create_section

    section = create_section(session)
    qtbot.addWidget(section)
    section.show()
    assert section.count() == 2 and section.tabText(0) == "Hyperparameter search"
    assert section.panel.study_choice.itemText(0) == "New search…"
    section.setCurrentIndex(1)
    assert section.compare.run_list.count() == 2


def test_an_ensemble_of_the_compared_runs_scores_and_saves(qtbot, session, project_with_runs, tmp_path):
    from cnnstudio.gui.search.compare.view import CompareView

    _, runs = project_with_runs
    view = CompareView(session)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.comparison_shown, timeout=20000):
        view.set_runs(runs)
    assert view.ensemble_button.isEnabled()
    dialog = view.open_ensemble()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=30000)
    scores = dialog.scores
    assert scores.rowCount() == 3 and scores.verticalHeaderItem(0).text() == "Ensemble"
    assert scores.item(0, 3).text().endswith("%") and dialog.confusion.rowCount() == 3
    assert "its best run" in dialog.status.text()
    # The default weights are chosen on the validation pictures, and shown.
    ensemble = dialog.result["ensemble"]
    assert (
        ensemble.weighting == "greedy selection"
        and "chosen on the validation pictures" in dialog.status.text()
    )
    assert [scores.item(r, 0).text() for r in (1, 2)] == [f"{w:.2f}" for w in ensemble.weights]
    val = dialog.result["evaluations"]["val"]
    assert val.report.accuracy >= max(r.accuracy for r in val.members.values())
    with qtbot.waitSignal(dialog.saved, timeout=30000) as saved:
        dialog.save(tmp_path / "both.onnx")
    assert saved.args[0].verification.ok and (tmp_path / "both.onnx").exists()
    assert "ONNX verified" in dialog.status.text()
    dialog.weighting.setCurrentIndex(1)  # weighted: evaluated again
    qtbot.waitUntil(lambda: dialog.result["ensemble"].weighting == "validation accuracy", timeout=30000)
    dialog.close()
