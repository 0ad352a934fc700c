"""The designer inside a project: classes from the dataset, the design saved in project.json and kept
when switching sections, undo from the window's Edit menu, and the time per epoch measured in the
background without stopping the window."""

from __future__ import annotations

import json
import re

import pytest
from gui_helpers import wait_idle
from PySide6.QtCore import QSettings, Qt, QTimer

from cnnstudio.core.spec import ModelSpec, template
from cnnstudio.gui.model.timing_worker import DONE


@pytest.fixture
def project_session(qtbot, tmp_path, tiny_image_folder):
    from cnnstudio.core.project import Project
    from cnnstudio.gui.session import ProjectSession

    project = Project.create(tmp_path / "proj", tiny_image_folder(classes=3, per_class=6))
    session = ProjectSession()
    session.open_project(project)
    wait_idle(qtbot, session)
    yield session
    session.tasks.cancel_all()
    session.deleteLater()


def test_design_follows_the_classes_and_is_saved_in_the_project(qtbot, project_session):
    from cnnstudio.gui.model.section import create_section

    session = project_session
    designer = create_section(session)
    qtbot.addWidget(designer)
    designer.timer.set_enabled(False)
    assert designer.document.num_classes == 3
    assert "one output per class (3)" in designer.stack.cards[-1].settings.text()
    assert session.project.spec == template("seed").to_dict()  # what Train uses is what is shown
    designer.load_template("tiny")
    assert session.project.spec == template("tiny").to_dict()
    session.save()
    saved = json.loads(session.project.file.read_text())["spec"]
    assert ModelSpec.from_dict(saved).layers == template("tiny").layers
    assert designer.document.train_images + designer.document.val_images <= 18
    # Undo lives on the session's stack, which the window's Edit menu drives.
    session.undo_stack.undo()
    assert session.project.spec == template("seed").to_dict()


def test_the_model_section_in_the_window_keeps_its_design(qtbot, project_session, tmp_path):
    from cnnstudio.gui.main_window import MainWindow
    from cnnstudio.gui.model.section import ModelSection

    window = MainWindow(
        project_session, settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    )
    qtbot.addWidget(window)
    window.show()
    window._project_changed(project_session.project)
    page = window.show_section(1)
    assert isinstance(page, ModelSection)
    page.timer.set_enabled(False)
    page.load_template("small-vgg")
    window.show_section(0)
    assert window.show_section(1) is page
    assert page.spec().layers == template("small-vgg").layers
    window.undo_action.trigger()
    assert page.spec().layers == template("seed").layers
    window.redo_action.trigger()
    assert project_session.project.spec == template("small-vgg").to_dict()
    # The Delete key reaches the stack inside the window (no window shortcut takes it).
    page.select(2)
    qtbot.keyClick(page.stack, Qt.Key.Key_Delete)
    assert len(page.spec().layers) == len(template("small-vgg").layers) - 1
    project_session.tasks.cancel_all()


def test_the_train_section_can_ask_what_stops_training(qtbot, project_session):
    from cnnstudio.core.spec import Conv2D
    from cnnstudio.gui.model.document import design_problem
    from cnnstudio.gui.model.view import ModelDesigner

    assert design_problem(project_session) is None  # no design saved yet: the Seed CNN, which works
    designer = ModelDesigner(project_session, measure_time=False)
    qtbot.addWidget(designer)
    spec = designer.spec()
    designer.set_spec(spec.insert_layer(5, Conv2D(8, 15)))
    assert designer.validation_message() == design_problem(project_session)
    assert "Conv2D #5" in design_problem(project_session)


def test_time_per_epoch_is_measured_in_the_background(qtbot, project_session):
    from cnnstudio.gui.model.view import ModelDesigner

    designer = ModelDesigner(project_session)
    qtbot.addWidget(designer)
    designer.document.reset(template("tiny"))
    designer.show()
    qtbot.waitExposed(designer)
    assert designer.summary.epoch_time.text() == "measuring…"
    ticks = []
    heartbeat = QTimer(designer, interval=50)
    heartbeat.timeout.connect(lambda: ticks.append(1))
    heartbeat.start()
    qtbot.waitUntil(lambda: designer.timer.state == DONE, timeout=40000)
    heartbeat.stop()
    assert len(ticks) >= 3  # the window kept answering while it measured
    text = designer.summary.epoch_time.text()
    assert re.fullmatch(r"about [\d.]+ s per epoch \([\d,.]+ images/s on this computer\)", text), text
    timing = designer.timer.timing
    assert timing.train_images == designer.document.train_images and timing.seconds_per_epoch > 0
    # An edit measures again; undo shows the earlier number at once (kept per design).
    designer.select(1)
    designer.properties.editors["filters"].setValue(4)
    assert designer.summary.epoch_time.text() == "measuring…"
    designer.undo_stack.undo()
    assert designer.summary.epoch_time.text() == text
    designer.timer.shutdown()
