"""The Search panel during a real tiny search: settings in words, the search in the background, the
table and plots filling, Stop keeping finished trials, "Use the best settings", opening runs."""

from __future__ import annotations

import pytest
from gui_helpers import wait_idle
from PySide6.QtCore import Qt

from cnnstudio.core.errors import UserError
from cnnstudio.gui.search.space_form import param_text, parse_param
from cnnstudio.gui.search.trials_model import RECORD_ROLE


@pytest.fixture
def make_panel(qtbot, tmp_path, tiny_image_folder):
    from cnnstudio.core.project import Project
    from cnnstudio.core.spec import template
    from cnnstudio.gui.search.panel import SearchPanel
    from cnnstudio.gui.session import ProjectSession

    made = []

    def make(per_class: int = 10):
        project = Project.create(tmp_path / "proj", tiny_image_folder(classes=3, per_class=per_class))
        project.spec = template("tiny").to_dict()
        project.train_config = {"batch_size": 8, "augment": {}}
        project.save()
        session = ProjectSession()
        session.open_project(project)
        wait_idle(qtbot, session)
        panel = SearchPanel(session)
        qtbot.addWidget(panel)
        panel.resize(1300, 820)
        panel.show()
        made.append((session, panel))
        return panel

    yield make
    for session, panel in made:
        panel.stop_and_wait(30)
        session.shutdown()
        session.deleteLater()


def _fill(panel, *, trials: int, epochs: int) -> None:
    form = panel.form
    for name, row in form.rows.items():
        row.check.setChecked(name in ("learning_rate", "batch_size"))
    form.rows["learning_rate"].edit.setText("0.003 to 0.03")
    form.rows["batch_size"].edit.setText("8, 16")
    form.strategy.setCurrentIndex(form.strategy.findData("random"))
    form.pruning.setCurrentIndex(form.pruning.findData("none"))
    form.epochs.setValue(epochs)
    form.trials.setValue(trials)


def _wait_done(qtbot, panel, timeout=90000):
    qtbot.waitUntil(lambda: not panel.is_searching(), timeout=timeout)
    qtbot.waitUntil(lambda: not panel.session.tasks.busy(), timeout=20000)


def test_form_reads_ranges_and_lists_in_words():
    lr = parse_param("learning_rate", "0.0001 to 0.01")
    assert lr.is_range and lr.log and (lr.low, lr.high) == (0.0001, 0.01)
    assert parse_param("batch_size", "16, 32,64").values == (16, 32, 64)
    assert parse_param("dropout", "0.2").values == (0.2,)
    assert (
        param_text(lr) == "0.0001 to 0.01" and param_text(parse_param("filters", "0.5, 1, 2")) == "0.5, 1, 2"
    )
    with pytest.raises(UserError, match="Batch size: 'lots' is not a number"):
        parse_param("batch_size", "16, lots")


def test_a_search_runs_in_the_background_and_fills_the_table_and_plots(qtbot, make_panel):
    panel = make_panel()
    assert panel.start_button.text() == "Start search" and panel.name_edit.text() == "search"
    # A setting the design has nothing for cannot be ticked; a wrong line says why and blocks Start.
    assert not panel.form.rows["dropout"].check.isEnabled()
    _fill(panel, trials=3, epochs=1)
    panel.form.rows["batch_size"].edit.setText("8, many")
    assert not panel.start_button.isEnabled()
    assert "not a number" in panel.form.rows["batch_size"].message.text()
    panel.form.rows["batch_size"].edit.setText("8, 16")
    assert panel.start_button.isEnabled()

    finished = []
    panel.search_finished.connect(finished.append)
    assert panel.start()
    assert panel.is_searching() and not panel.start_button.isEnabled() and panel.stop_button.isEnabled()
    _wait_done(qtbot, panel)
    summary = finished[0]
    assert summary is not None and summary.ended_because == "trials"
    assert [r.state for r in panel.model.records] == ["complete"] * 3
    assert "3 trials done" in panel.headline.text() and "best so far" in panel.headline.text()
    assert panel.progress.value() == 3
    assert panel.study_choice.currentData() == "search" and panel.start_button.text() == "Continue search"
    assert len(panel.plots.records) == 3 and panel.plots.param_choice.count() == 2

    # Sorting by the metric puts the best trial first (descending: higher is better).
    panel.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    first = panel.proxy.data(panel.proxy.index(0, 0), RECORD_ROLE)
    assert first.number == panel.model.best().number

    applied = []
    panel.best_settings_applied.connect(lambda: applied.append(True))
    assert panel.use_best(ask=False)
    best = panel.model.best()
    config = panel.session.project.train_config
    assert (
        applied
        and config["lr"] == best.params["learning_rate"]
        and config["batch_size"] == best.params["batch_size"]
    )

    # "Open this run" without a receiver opens the run in a window; two trials compare side by side.
    panel.select_trial(best.number)
    assert panel.open_button.isEnabled()
    panel.open_selected_run()
    dialog = panel.dialogs[-1]
    qtbot.waitUntil(lambda: dialog.view.comparison is not None, timeout=20000)
    assert [r.name for r in dialog.view.comparison.runs] == [best.run]
    dialog.close()
    opened = []
    panel.open_run_requested.connect(opened.append)
    panel.open_selected_run()
    assert opened and opened[0].name == best.run
    panel.table.selectAll()
    assert panel.compare_button.isEnabled()
    panel.compare_selected()
    qtbot.waitUntil(lambda: panel.dialogs[-1].view.comparison is not None, timeout=20000)
    assert len(panel.dialogs[-1].view.comparison.runs) == 3
    panel.dialogs[-1].close()


def test_stop_keeps_finished_trials_and_continue_redoes_the_stopped_one(qtbot, make_panel):
    panel = make_panel(per_class=14)
    _fill(panel, trials=4, epochs=3)
    panel.start()
    qtbot.waitUntil(lambda: any(r.state == "complete" for r in panel.model.records), timeout=60000)
    qtbot.waitUntil(lambda: any(r.state == "running" for r in panel.model.records), timeout=20000)
    panel.stop()
    assert panel.state == "stopping"
    _wait_done(qtbot, panel)
    states = [r.state for r in panel.model.records]
    assert "complete" in states and states[-1] == "interrupted", states
    assert "finished trials are kept" in panel.notice.text()

    # Choosing the search again reads it back from its file; Continue finishes it.
    panel._fill_studies(select="search")
    qtbot.waitUntil(lambda: panel._study_info is not None, timeout=20000)
    assert not panel.form.strategy.isEnabled()  # a search keeps its settings
    panel.form.trials.setValue(len([s for s in states if s == "complete"]) + 1)
    panel.start()
    _wait_done(qtbot, panel)
    assert panel.model.records[-1].state == "complete"
    redone = panel.model.records[-1]
    stopped = next(r for r in panel.model.records if r.state == "interrupted")
    assert redone.params == stopped.params
