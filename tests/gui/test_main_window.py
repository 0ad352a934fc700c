"""The main window: opening folders and projects, sections, settings, drops, and a picture of it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from gui_helpers import wait_idle
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QLabel

from cnnstudio.core.paths import user_data_dir
from cnnstudio.core.project import PROJECT_FILE


@pytest.fixture
def window(qtbot, tmp_path):
    from cnnstudio.gui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    win.session.tasks.cancel_all()


def test_the_window_opens_without_importing_torch(tmp_path):
    """The window (and the Data section on a project) must show before torch is imported."""
    code = f"""
import sys
from PySide6.QtCore import QSettings
from cnnstudio.gui.app import create_app
from cnnstudio.gui.main_window import MainWindow
app = create_app()
w = MainWindow(settings=QSettings(r"{tmp_path / "s.ini"}", QSettings.Format.IniFormat))
w.show()
w.show_section(0)
app.processEvents()
print("torch" in sys.modules)
"""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_welcome_page_first_then_a_folder_becomes_a_project(window, qtbot, tiny_image_folder):
    assert window.stack.currentWidget() is window.welcome
    assert window.windowTitle() == "CNN Studio"
    assert window.welcome.folder_button.text().strip().startswith("Open a folder of images")
    assert "Try the demo" in window.welcome.demo_button.text()
    data = tiny_image_folder(classes=2, per_class=3, name="holiday photos")
    window.open_path(data, ask=False)
    wait_idle(qtbot, window.session)
    project = window.session.project
    assert project.folder == (user_data_dir() / "projects" / "holiday photos").resolve()
    assert window.windowTitle() == "holiday photos — CNN Studio"
    assert window.stack.currentWidget() is window.workspace
    assert window.pages[0].model.rowCount() == 6
    assert window.recent_projects()[0] == str(project.folder)
    assert "6 images · 2 classes" in window.counts_label.text()
    # The same images again: the same project, not a second one.
    window.open_path(data, ask=False)
    wait_idle(qtbot, window.session)
    assert window.session.project.folder == project.folder
    assert len([p for p in (user_data_dir() / "projects").iterdir() if p.name.startswith("holiday")]) == 1
    # Opening the project folder itself opens it.
    window.close_project()
    assert window.stack.currentWidget() is window.welcome and window.windowTitle() == "CNN Studio"
    window.open_path(project.folder, ask=False)
    wait_idle(qtbot, window.session)
    assert window.session.project.folder == project.folder


def test_new_project_dialog_defaults_to_the_projects_folder(qtbot, tiny_image_folder, tmp_path):
    from cnnstudio.gui.project_flow import NewProjectDialog

    data = tiny_image_folder(name="birds")
    dialog = NewProjectDialog(data)
    qtbot.addWidget(dialog)
    assert dialog.project_dir().parent == user_data_dir() / "projects"
    assert dialog.project_dir().name.startswith("birds")
    dialog.custom.setText(str(tmp_path / "mine"))
    assert dialog.custom_radio.isChecked() and dialog.project_dir() == tmp_path / "mine"


def test_dropping_a_folder_anywhere_opens_it(window, qtbot, tiny_image_folder, monkeypatch):
    from cnnstudio.gui.project_flow import NewProjectDialog

    monkeypatch.setattr(NewProjectDialog, "exec", lambda self: 1)  # the user presses "Create project"
    data = tiny_image_folder(classes=2, per_class=2, name="dropped")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(data))])
    target = window.welcome
    pos = QPointF(target.rect().center())
    enter = QDragEnterEvent(
        pos.toPoint(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, drop)
    wait_idle(qtbot, window.session)
    assert window.session.project.source == data.resolve()
    assert (window.session.project.folder / PROJECT_FILE).exists()


def test_sections_are_created_when_first_shown_and_missing_ones_say_what_comes(
    window, qtbot, tiny_image_folder
):
    from cnnstudio.gui.sections import Section

    assert window.pages == {}  # nothing built on the welcome page
    window.open_path(tiny_image_folder(classes=2, per_class=2), ask=False)
    wait_idle(qtbot, window.session)
    assert set(window.pages) == {0}
    titles = [s.title for s in window.sections]
    assert titles == ["Data", "Model", "Train", "Evaluate", "Search", "Predict"]
    # A section plugs in by module path; one that does not exist yet shows a placeholder.
    missing = Section(
        "Model",
        "model",
        "cnnstudio.gui.not_built_yet.section",
        "The Model section arrives with the layer designer.",
    )
    page = missing.create(window.session)
    assert "arrives with the layer designer" in page.findChild(QLabel).text()
    custom = Section(
        "Extra", "data", "", "", factory=lambda session: QLabel(f"{len(session.index.samples)} images")
    )
    assert custom.create(window.session).text() == "4 images"


def test_geometry_and_last_project_are_restored(qtbot, tmp_path, tiny_image_folder):
    from cnnstudio.gui.main_window import MainWindow

    path = str(tmp_path / "settings.ini")
    first = MainWindow(settings=QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    first.resize(700, 500)  # inside the offscreen screen (800 x 600), which restoreGeometry respects
    first.show()
    first.open_path(tiny_image_folder(classes=2, per_class=2), ask=False)
    wait_idle(qtbot, first.session)
    folder = first.session.project.folder
    size = (first.width(), first.height())
    first.close()
    second = MainWindow(settings=QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == size != (1360, 860)  # not the default size
    assert second.restore_last_project()
    wait_idle(qtbot, second.session)
    assert second.session.project.folder == folder
    second.session.tasks.cancel_all()


def test_undo_and_redo_are_in_the_edit_menu(window, qtbot, tiny_image_folder):
    window.open_path(tiny_image_folder(classes=2, per_class=2), ask=False)
    wait_idle(qtbot, window.session)
    browser = window.pages[0]
    path = window.session.index.samples[0].path
    browser.assign([path], "class_1")
    assert window.undo_action.isEnabled() and "Label 1 image" in window.undo_action.text()
    window.undo_action.trigger()
    assert window.session.labels.sample(path).label == "class_0"
    window.redo_action.trigger()
    assert window.session.labels.sample(path).label == "class_1"


def test_render_the_main_window_on_the_demo_project(window, qtbot, tmp_path):
    """A picture to look at (tests' tmp dir): the demo's digits in the browser, classes on the left."""
    window.open_demo()
    qtbot.waitUntil(lambda: window.session.project is not None, timeout=30000)
    wait_idle(qtbot, window.session, timeout=30000)
    browser = window.pages[0]
    qtbot.waitUntil(lambda: browser.loader.wait_idle(200), timeout=10000)
    qtbot.wait(200)
    assert window.windowTitle() == "Demo: handwritten digits — CNN Studio"
    assert browser.model.rowCount() == 1797
    assert [r.name for r in browser.class_panel.model.rows[-10:]] == [str(d) for d in range(10)]
    out = tmp_path / "main_window_demo.png"
    picture = window.grab()
    assert picture.save(str(out))
    print(f"\nmain window picture: {out}")
    # The picture shows what the test names: the whole window, and digit thumbnails in the grid
    # (the demo digits are dark strokes on light paper: many grey levels, not one flat colour).
    assert (picture.width(), picture.height()) == (window.width(), window.height())
    image = picture.toImage()
    grid = browser.grid.viewport()
    corner = grid.mapTo(window, grid.rect().topLeft())
    width, height = min(grid.width(), 400), min(grid.height(), 300)
    assert width > 100 and height > 100
    greys = set()
    for y in range(corner.y(), corner.y() + height, 3):
        for x in range(corner.x(), corner.x() + width, 3):
            colour = image.pixelColor(x, y)
            greys.add((colour.red(), colour.green(), colour.blue()))
    assert len(greys) > 40, f"the thumbnail grid looks blank ({len(greys)} colours)"
    window.show_section(1)  # the Model section: the layer designer
    assert window.section_stack.currentIndex() == 1
    from cnnstudio.gui.model.section import ModelSection

    assert isinstance(window.pages[1], ModelSection)


def test_save_as_copies_the_project_and_opens_the_copy(window, qtbot, tiny_image_folder, tmp_path):
    window.open_path(tiny_image_folder(classes=2, per_class=2), ask=False)
    wait_idle(qtbot, window.session)
    path = window.session.index.samples[0].path
    window.pages[0].assign([path], "class_1")
    original = window.session.project.folder
    live = window.session.project
    window.save_as(tmp_path / "copy")
    qtbot.waitUntil(lambda: window.session.project is not None and window.session.project.folder != original)
    wait_idle(qtbot, window.session)
    assert window.session.project.folder == (tmp_path / "copy").resolve()
    assert window.session.labels.sample(path).label == "class_1"
    assert window.windowTitle() == "copy — CNN Studio"
    # The copy, saved in a worker, shares no container with the project the app was editing (before:
    # a dataclasses.replace copy whose save refilled the live project's dicts from the worker).
    copy = window.session.project
    names = ("labels", "excluded", "split_assignments", "accepted", "extra_classes")
    assert [n for n in names if getattr(copy, n) is getattr(live, n)] == []
    assert live.folder == original and live.labels == copy.labels


def test_gui_command_takes_a_project(tmp_path):
    import argparse

    from cnnstudio.cli import gui
    from cnnstudio.core.errors import UserError

    parser = argparse.ArgumentParser()
    gui.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["gui", str(tmp_path)])
    assert args.project == str(tmp_path) and args.func is gui.run and not args.demo
    with pytest.raises(UserError, match="does not exist"):
        gui.run(parser.parse_args(["gui", str(tmp_path / "nowhere")]))


def test_a_new_project_opens_on_data_with_nothing_left_from_the_last(
    window, qtbot, tiny_image_folder, tmp_path
):
    from cnnstudio.gui.data.thumbnail_model import ALL, CLASS

    window.open_path(tiny_image_folder(classes=2, per_class=3, name="first"), ask=False)
    wait_idle(qtbot, window.session)
    browser = window.pages[0]
    browser.show_filter(CLASS, "class_1")
    browser.search.setText("img")
    predict = window.show_section(5)
    picture = window.session.index.samples[0].path
    predict.add_inputs([picture])
    assert predict.inputs == [picture]
    evaluate = window.show_section(3)
    evaluate.split_combo.insertItem(evaluate.split_combo.count() - 1, "Folder: old", str(tmp_path))
    window.show_section(5)
    window.open_path(tiny_image_folder(classes=3, per_class=3, name="second"), ask=False)
    qtbot.waitUntil(lambda: window.session.project is not None and window.session.project.name == "second")
    wait_idle(qtbot, window.session)
    assert window.section_stack.currentIndex() == 0 and window.sidebar.current() == 0
    assert predict.inputs == [] and predict.results.rowCount() == 0
    assert evaluate.split_combo.findText("Folder: old") < 0 and evaluate.split_combo.currentData() == "val"
    assert browser.search.text() == "" and browser.model.filter.kind == ALL
    assert browser.model.rowCount() == 9


def test_every_section_fits_a_1000_by_700_window(window, qtbot, tiny_image_folder):
    """No section makes the window wider or taller than 1000 x 700: a page that needs more scrolls."""
    window.open_path(tiny_image_folder(classes=2, per_class=3), ask=False)
    wait_idle(qtbot, window.session)
    for i in range(len(window.sections)):
        window.show_section(i)
    window.resize(1000, 700)
    qtbot.wait(50)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1000 and hint.height() <= 700, hint
    assert (window.width(), window.height()) == (1000, 700)
