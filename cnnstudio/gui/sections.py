"""The main window's sections, and how a new one plugs in.

A section is a title, an icon (a name in resources/icons) and a factory `create_section(session)
-> QWidget`, found by module path. The window imports a section's module only when the section is
first shown, so opening the window never imports torch; a module that does not exist yet shows a
placeholder page that says what will come there.

Every section is built alike: a package named as its title (gui/data, gui/model, gui/train,
gui/evaluate, gui/search, gui/predict) whose `section.py` defines `<Title>Section`, the widget the
window mounts, and

    def create_section(session: ProjectSession) -> <Title>Section: ...

Its views sit beside it; where it starts and stops background work, that job control is a
`controller.py` that knows the view through a Protocol (tests/gui/test_view_protocols.py).
`python -m cnnstudio.gui.<package>` previews the section alone. The widget listens to the session's
signals (project_changed, index_changed, labels_changed, ...) and pushes its edits on
`session.undo_stack`. An optional `section_shown()` method on the widget is called each time the
user switches to it; an optional `confirm_stop(parent) -> bool` before the project or the window
closes while it works.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cnnstudio.gui.session import ProjectSession


@dataclass(frozen=True)
class Section:
    title: str
    icon: str  # resources/icons/<icon>.svg
    module: str  # a module with create_section(session) -> QWidget
    placeholder: str  # shown while that module does not exist yet
    factory: Callable[[ProjectSession], QWidget] | None = None  # instead of `module` (tests, plug-ins)

    def create(self, session: ProjectSession) -> QWidget:
        if self.factory is not None:
            return self.factory(session)
        try:
            module = importlib.import_module(self.module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not self.module.startswith(exc.name):
                raise  # the section exists but something it imports is missing: a real error
            return placeholder_page(self.title, self.placeholder)
        return module.create_section(session)


SECTIONS: list[Section] = [
    Section("Data", "data", "cnnstudio.gui.data.section", "The dataset browser."),
    Section(
        "Model",
        "model",
        "cnnstudio.gui.model.section",
        "The Model section arrives with the layer designer.",
    ),
    Section(
        "Train",
        "train",
        "cnnstudio.gui.train.section",
        "The Train section arrives with the training view.",
    ),
    Section(
        "Evaluate",
        "evaluate",
        "cnnstudio.gui.evaluate.section",
        "The Evaluate section arrives with the evaluation view.",
    ),
    Section(
        "Search",
        "search",
        "cnnstudio.gui.search.section",
        "The Search section arrives with hyperparameter search.",
    ),
    Section(
        "Predict",
        "predict",
        "cnnstudio.gui.predict.section",
        "The Predict section arrives with prediction and export.",
    ),
]


def placeholder_page(title: str, text: str) -> QWidget:
    page = QWidget()
    label = QLabel(
        f"<h2>{title}</h2><p>{text}</p>", page, alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True
    )
    label.setEnabled(False)
    layout = QVBoxLayout(page)
    layout.addWidget(label)
    return page
