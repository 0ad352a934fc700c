"""The "Get the pre-trained weights" dialog: what is downloaded, from where, how big, with progress
and cancel. A worker thread runs core.weights.download with the task's stop flag; the source (a
mirror URL base or a folder, for offline sites) is remembered in the app's settings."""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.weights import ENV_SOURCE, entry, fetch
from cnnstudio.core.weights.entries import OFFICIAL_BASE, source_of
from cnnstudio.gui.style import muted_color
from cnnstudio.gui.style.theme import error_color
from cnnstudio.gui.workers import Task, TaskRunner

SOURCE_SETTING = "weights/source"  # the GUI setting beside $CNNSTUDIO_WEIGHTS_FROM


def saved_source(settings: QSettings) -> str:
    """The mirror or folder the user chose last time, else the environment variable's, else ''."""
    value = settings.value(SOURCE_SETTING, "")
    return str(value or os.environ.get(ENV_SOURCE, "")).strip()


class WeightsDialog(QDialog):
    fetched = Signal(str)  # the weights file, once checked and in place

    def __init__(
        self,
        name: str,
        tasks: TaskRunner,
        parent: QWidget | None = None,
        settings: QSettings | None = None,
    ):
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.item = entry(name)
        self.tasks = tasks
        self.task: Task | None = None
        self.setWindowTitle("Get the pre-trained weights")
        item = self.item
        self.intro = intro = QLabel(
            f"<b>{item.title}</b> learns well from few pictures only with the weights it learnt on "
            f"ImageNet (a million photos). This downloads torchvision's official file "
            f"<b>{item.file_name}</b> (about {item.megabytes} MB) once, checks its fingerprint, and keeps "
            f"it in<br><tt>{item.target.parent}</tt><br>where PyTorch and every project find it.",
            self,
        )
        intro.setWordWrap(True)
        self.source_edit = QLineEdit(saved_source(self.settings), self)
        self.source_edit.setPlaceholderText(f"{OFFICIAL_BASE} (the official server)")
        self.source_edit.setToolTip(
            "Leave empty for PyTorch's server. Offline: a folder (USB stick, shared drive) or your "
            "organisation's mirror (a URL) that holds the same file names."
        )
        self.source_edit.textChanged.connect(self._show_source)
        folder = QPushButton("Folder…", self)
        folder.clicked.connect(self._choose_folder)
        source_row = QHBoxLayout()
        source_row.addWidget(QLabel("From:", self))
        source_row.addWidget(self.source_edit, 1)
        source_row.addWidget(folder)
        self.source_label = QLabel(self)
        self.source_label.setWordWrap(True)
        self.source_label.setStyleSheet(f"color:{muted_color().name()}")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, item.expected_bytes)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(self)
        self.download_button = self.buttons.addButton("Download", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.download_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        column = QVBoxLayout(self)
        column.addWidget(intro)
        column.addLayout(source_row)
        column.addWidget(self.source_label)
        column.addWidget(self.progress)
        column.addWidget(self.status)
        column.addWidget(self.buttons)
        self.resize(560, self.sizeHint().height())
        self._show_source()

    def source(self) -> str | None:
        return self.source_edit.text().strip() or None

    def _show_source(self, *_args) -> None:
        self.source_label.setText(
            f"The file comes from {source_of(self.item, self.source() or OFFICIAL_BASE)}"
        )

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder holding the weights file")
        if folder:
            self.source_edit.setText(folder)

    def start(self) -> Task:
        """Fetch in a worker thread (the only network connection the app makes, and only now)."""
        source = self.source()
        self.settings.setValue(SOURCE_SETTING, source or "")
        name = self.item.name
        self.download_button.setEnabled(False)
        self.source_edit.setEnabled(False)
        self._set_status(f"Downloading from {source_of(self.item, source or OFFICIAL_BASE)}…")

        def job(ctx):
            return str(fetch(name, source or OFFICIAL_BASE, progress=ctx.progress, stop=ctx.should_stop))

        self.task = self.tasks.start(f"Getting the {self.item.title} weights", job)
        self.task.progressed.connect(self._progressed)
        self.task.succeeded.connect(self._succeeded)
        self.task.failed.connect(self._failed)
        self.task.cancelled.connect(self._cancelled)
        return self.task

    def _progressed(self, done: int, total: int) -> None:
        if total and total != self.progress.maximum():
            self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _succeeded(self, path: str) -> None:
        self.task = None
        self.progress.setValue(self.progress.maximum())
        self._set_status("Done: the file was checked and is ready.")
        self.fetched.emit(path)
        self.accept()

    def _failed(self, message: str) -> None:
        self.task = None
        self._set_status(message, error=True)
        self.download_button.setText("Try again")
        self.download_button.setEnabled(True)
        self.source_edit.setEnabled(True)

    def _cancelled(self) -> None:
        self.task = None
        self._set_status("Stopped. The part already downloaded is kept for next time.")
        self.download_button.setText("Continue")
        self.download_button.setEnabled(True)
        self.source_edit.setEnabled(True)

    def cancel(self) -> None:
        """Stop a running download (the dialog stays open); otherwise close."""
        if self.task is not None:
            self.task.cancel()
        else:
            self.reject()

    def reject(self) -> None:
        if self.task is not None:
            self.task.cancel()
        super().reject()

    def _set_status(self, text: str, error: bool = False) -> None:
        colour = error_color() if error else muted_color()
        self.status.setStyleSheet(f"color:{colour.name()}")
        self.status.setText(text)
