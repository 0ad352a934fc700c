"""Shared by the training panel tests: a project on tiny pictures, opened in a session, and a panel.

Each test module makes the fixture with `yield from panel_factory(qtbot, tmp_path, tiny_image_folder)`.
"""

from __future__ import annotations

from gui_helpers import wait_idle


def panel_factory(qtbot, tmp_path, tiny_image_folder):
    """Yields make(epochs=2, per_class=8) -> TrainingPanel on a 3-class tiny project (the 'tiny' design)."""
    from cnnstudio.core.project import Project
    from cnnstudio.core.spec import template
    from cnnstudio.gui.session import ProjectSession
    from cnnstudio.gui.train.panel import TrainingPanel

    made = []

    def make(epochs: int = 2, per_class: int = 8, batch_size: int = 4):
        project = Project.create(tmp_path / "proj", tiny_image_folder(classes=3, per_class=per_class))
        project.spec = template("tiny").to_dict()
        session = ProjectSession()
        session.open_project(project)
        wait_idle(qtbot, session)
        panel = TrainingPanel(session)
        qtbot.addWidget(panel)
        panel.resize(1300, 820)
        panel.show()
        config = panel.config()
        config.epochs, config.batch_size = epochs, batch_size
        panel.set_config(config)
        made.append((session, panel))
        return panel

    yield make
    for session, panel in made:
        panel.stop_and_wait(30)
        session.tasks.cancel_all()
        session.deleteLater()


def wait_trained(qtbot, panel, timeout: int = 60000) -> None:
    qtbot.waitUntil(lambda: not panel.is_training(), timeout=timeout)


def wait_tasks(qtbot, panel, timeout: int = 20000) -> None:
    qtbot.waitUntil(lambda: not panel.session.tasks.busy(), timeout=timeout)
