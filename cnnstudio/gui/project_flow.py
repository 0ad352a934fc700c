"""From a folder to a project: open it when it is one, otherwise ask where to keep a new one.

A folder that holds project.json is opened. A folder of images gets a project, by default in the user
data folder's projects/<name> (never inside the user's image folder); a project already kept there for
the same images is opened instead of making a second one.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.errors import UserError
from cnnstudio.core.paths import user_data_dir
from cnnstudio.core.project import PROJECT_FILE, Project


def projects_dir() -> Path:
    return user_data_dir() / "projects"


def existing_project_for(source: Path) -> Path | None:
    """A project in the default projects folder that already uses these images."""
    folder = projects_dir()
    if not folder.is_dir():
        return None
    source = source.resolve()
    for candidate in sorted(folder.iterdir()):
        if (candidate / PROJECT_FILE).exists():
            try:
                project = Project.open(candidate)
            except UserError:
                continue
            if project.source is not None and Path(project.source).resolve() == source:
                return candidate
    return None


def default_project_dir(source: Path, name: str | None = None) -> Path:
    """projects/<name>, or <name>-2, <name>-3, ... when taken."""
    base = projects_dir() / _safe_name(name or source.stem or "dataset")
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in " -_." else "_" for c in name).strip(" .")
    return cleaned or "project"


class NewProjectDialog(QDialog):
    """Name the project and choose where it is kept (the images stay where they are)."""

    def __init__(self, source: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.source = source
        self.name = QLineEdit(source.stem or "My project")
        self.default_radio = QRadioButton()
        self.custom_radio = QRadioButton("In a folder I choose:")
        self.default_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.default_radio)
        group.addButton(self.custom_radio)
        self.custom = QLineEdit(str(Path.home() / (source.stem or "project")))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        custom_row = QHBoxLayout()
        custom_row.addSpacing(24)
        custom_row.addWidget(self.custom, 1)
        custom_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("Images:", QLabel(str(source), wordWrap=True))
        form.addRow("Project name:", self.name)
        note = QLabel(
            "The project keeps your labels, the model designs and the training runs. "
            "Your images stay where they are and are not changed.",
            wordWrap=True,
        )
        note.setEnabled(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.addButton("Create project", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addSpacing(8)
        layout.addWidget(QLabel("<b>Where should the project be kept?</b>"))
        layout.addWidget(self.default_radio)
        layout.addWidget(self.custom_radio)
        layout.addLayout(custom_row)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.name.textChanged.connect(self._update_default)
        self.custom.textChanged.connect(lambda _t: self.custom_radio.setChecked(True))
        self._update_default()
        self.resize(600, 300)

    def _update_default(self) -> None:
        self.default_radio.setText(f"In CNN Studio's projects folder: {self.project_dir_default()}")

    def project_dir_default(self) -> Path:
        return default_project_dir(self.source, self.name.text().strip() or None)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Keep the project in", str(Path.home()))
        if folder:
            self.custom.setText(folder)
            self.custom_radio.setChecked(True)

    def project_dir(self) -> Path:
        if self.custom_radio.isChecked():
            return Path(self.custom.text().strip()).expanduser()
        return self.project_dir_default()


def project_for_folder(folder: Path | str, parent: QWidget | None = None, ask: bool = True) -> Project | None:
    """The project to open for `folder` (a project, a folder of images or a CSV); None if the user cancels.

    Raises UserError with a plain message when the folder cannot be used.
    """
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise UserError(f"{folder} does not exist.")
    if folder.is_file() and folder.name == PROJECT_FILE:
        folder = folder.parent
    if (folder / PROJECT_FILE).exists():
        return Project.open(folder)
    if folder.is_file() and folder.suffix.lower() != ".csv":
        raise UserError(f"{folder.name} is a file. Choose a folder of images (one sub-folder per class).")
    existing = existing_project_for(folder)
    if existing is not None:
        return Project.open(existing)
    name = folder.stem
    target = default_project_dir(folder)
    if ask:
        dialog = NewProjectDialog(folder.resolve(), parent)
        if not dialog.exec():
            return None
        target = dialog.project_dir()
        name = dialog.name.text().strip() or name
    if (target / PROJECT_FILE).exists():
        project = Project.open(target)
        if project.source is not None and Path(project.source).resolve() != folder.resolve():
            raise UserError(
                f"{target} is already a project for other images ({project.source}). Choose another folder."
            )
        return project
    return Project.create(target, folder, name=name)
