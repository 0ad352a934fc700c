"""Texts and values that must follow what changed, not stay from before (issue 23, item 4)."""

from __future__ import annotations

import shutil

import pytest
from gui_helpers import close_session, wait_idle
from training_helpers import panel_factory, wait_trained


def _loose_pictures(data) -> None:
    """Four pictures beside the class folders: the scan gives them no label."""
    for i, picture in enumerate(sorted((data / "class_0").iterdir())[:4]):
        shutil.copy(picture, data / f"loose_{i}{picture.suffix}")


def _no_label_warnings(session) -> list[str]:
    return [w for w in session.health.warnings if "no label" in w]


def test_the_no_label_warning_counts_the_pictures_still_unlabelled_also_after_a_restart(open_browser, qtbot):
    from cnnstudio.core.project import Project
    from cnnstudio.gui.session import ProjectSession

    session, browser, _data = open_browser(prepare=_loose_pictures)
    assert _no_label_warnings(session) == [
        "4 pictures have no label yet; label them in the app or move them into a class folder."
    ]
    loose = [s.path for s in session.index.samples if s.label is None]
    browser.assign(loose[:3], "class_1")
    qtbot.waitUntil(lambda: "1 picture has no label yet" in " ".join(_no_label_warnings(session)))
    assert len(_no_label_warnings(session)) == 1
    browser.assign(loose[3:], "class_2")
    qtbot.waitUntil(lambda: not _no_label_warnings(session))
    session.save()
    # The app opened again on the project: the folder has not changed, the labels in the project have.
    again = ProjectSession()
    try:
        again.open_project(Project.open(session.project.folder))
        wait_idle(qtbot, again)
        assert not _no_label_warnings(again)
    finally:
        close_session(again)


def _epoch_logs(n: int, start: int = 0) -> list[dict]:
    return [
        {"epoch": e, "loss": 4.0 - 0.1 * e, "accuracy": 0.5, "val_loss": 4.2 - 0.1 * e, "val_accuracy": 0.5}
        | {"lr": 0.01 * 0.9**e}
        for e in range(start, start + n)
    ]


def test_cleared_charts_do_not_keep_the_last_runs_axes(qtbot):
    from cnnstudio.gui.train.plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(900, 600)
    plots.show()
    plots.set_run_length(20)
    plots.add_epochs(_epoch_logs(20))
    plots.refresh(force=True)
    ranges = plots.view_ranges()
    assert ranges["loss"][0][1] > 19 and ranges["loss"][1][1] > 3
    plots.clear()  # what a new project does
    plots.refresh(force=True)
    ranges = plots.view_ranges()
    for name in ("loss", "accuracy", "lr"):
        assert ranges[name][0][1] < 1.1, name  # the x axis spans one epoch, not the last run's 20
    assert ranges["loss"][1][0] <= 0.0 and ranges["loss"][1][1] <= 1.0


def test_a_resumed_runs_learning_rate_chart_starts_where_the_run_started(qtbot):
    from cnnstudio.gui.train.feed import BatchPoint
    from cnnstudio.gui.train.plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.show()
    plots.set_run_length(20)
    plots.set_epochs(_epoch_logs(12))  # what a resume shows first: the epochs done before
    plots.add_batches([BatchPoint(12.5 + i / 10, 1.0, 0.5, 0.003) for i in range(5)])
    plots.refresh(force=True)
    x, _ = plots.curves["lr"].getData()
    assert x[0] == 1.0 and len(x) == 12 + 5


@pytest.fixture
def make_panel(qtbot, tmp_path, tiny_image_folder):
    yield from panel_factory(qtbot, tmp_path, tiny_image_folder)


def test_the_run_list_counts_the_live_runs_epochs_as_the_progress_bar_does(qtbot, make_panel):
    panel = make_panel(epochs=30, per_class=10)
    assert panel.start()
    history = panel.history

    def live_row():
        run = panel.jobs.live_run
        tree = history.tree
        for i in range(tree.topLevelItemCount()):
            if run is not None and tree.topLevelItem(i).text(0) == run.name:
                return tree.topLevelItem(i)
        return None

    try:
        qtbot.waitUntil(lambda: live_row() is not None and len(panel.jobs.epoch_logs) >= 2, timeout=60000)
        done = len(panel.jobs.epoch_logs)
        assert live_row().text(4) == f"{done} of 30"
        assert panel.progress.run_bar.format() == f"Epoch {done + 1} of 30"
    finally:
        panel.stop()  # a failed check leaves no run going (a running panel asks before closing)
        wait_trained(qtbot, panel)
