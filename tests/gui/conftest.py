"""GUI fixtures: a project on a tiny image folder, opened in a session (offscreen Qt, pytest-qt)."""

from __future__ import annotations

import os

import pytest
from gui_helpers import wait_idle

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def open_browser(qtbot, tmp_path, tiny_image_folder):
    """open_browser(classes=3, per_class=6, size=32, prepare=None) -> (session, browser, data folder)."""
    from cnnstudio.core.project import Project
    from cnnstudio.gui.data.browser import DatasetBrowser
    from cnnstudio.gui.session import ProjectSession

    sessions = []

    def make(classes: int = 3, per_class: int = 6, size: int = 32, prepare=None):
        data = tiny_image_folder(classes=classes, per_class=per_class, size=size)
        if prepare is not None:
            prepare(data)
        project = Project.create(tmp_path / "proj", data)
        session = ProjectSession()
        sessions.append(session)
        browser = DatasetBrowser(session)
        qtbot.addWidget(browser)
        browser.resize(1100, 700)
        browser.show()
        session.open_project(project)
        wait_idle(qtbot, session)
        return session, browser, data

    yield make
    for session in sessions:
        session.tasks.cancel_all()
        session.deleteLater()
