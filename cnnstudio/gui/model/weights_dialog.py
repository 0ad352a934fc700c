"""The "Get the pre-trained weights" dialog: what is missing in plain words and three ways to get it
(download, a folder or USB stick, a file from a colleague), a button each, with progress and cancel. A worker thread runs core.weights.download with the task's stop flag; the source (a
mirror URL base or a folder, for offline sites) is remembered in the app's settings."""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings, Qt, Signal
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
from cnnstudio.core.weights.download import offline_help
from cnnstudio.core.weights.entries import OFFICIAL_BASE, source_of
from cnnstudio.gui.style import icon, muted_color
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
        # What is missing, in plain words, then the three ways to get it: one button each.
        self.intro = intro = QLabel(
            f"<b>What is missing:</b> the weights that <b>{item.title}</b> learnt from a million photos "
            f"(ImageNet), the file <b>{item.file_name}</b> (about {item.megabytes} MB). Without them it "
            "starts from random weights and will not learn well from your pictures.<br><br>"
            "<b>Three ways to get them:</b><br>"
            "1. <b>Download</b> them, when this computer is on the internet.<br>"
            "2. <b>From a folder or USB stick</b> that holds this file (copied from a computer that has "
            "it).<br>"
            "3. <b>A file from a colleague</b>: a weights file of this network (.pth or .safetensors), "
            "even under another name.<br><br>"
            f"Each file is checked, then kept in <tt>{item.target.parent}</tt> for every project.",
            self,
        )
        intro.setWordWrap(True)
        intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.source_edit = QLineEdit(saved_source(self.settings), self)
        self.source_edit.setPlaceholderText("PyTorch's official server")
        self.source_edit.setToolTip(
            "Leave empty for PyTorch's server, or give your organisation's mirror (a web address) or a "
            f"folder that holds {item.file_name}."
        )
        self.source_edit.textChanged.connect(self._show_source)
        source_row = QHBoxLayout()
        source_row.addWidget(QLabel("Download from:", self))
        source_row.addWidget(self.source_edit, 1)
        self.source_label = QLabel(self)
        self.source_label.setWordWrap(True)
        self.source_label.setStyleSheet(f"color:{muted_color().name()}")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, item.expected_bytes)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.download_button = QPushButton(icon("save"), "Download", self)
        self.download_button.setToolTip("Needs the internet (or the mirror named above).")
        self.folder_button = QPushButton(icon("folder"), "From a folder or USB stick…", self)
        self.folder_button.setToolTip(f"Choose the folder that holds {item.file_name}.")
        self.file_button = QPushButton(icon("folder-open"), "A file from a colleague…", self)
        self.file_button.setToolTip("Choose a weights file of this network (.pth or .safetensors).")
        self.download_button.clicked.connect(self.start)
        self.folder_button.clicked.connect(lambda: self._choose_folder())
        self.file_button.clicked.connect(lambda: self._choose_file())
        ways = QHBoxLayout()
        for button in (self.download_button, self.folder_button, self.file_button):
            ways.addWidget(button)
        self.buttons = QDialogButtonBox(self)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.clicked.connect(self.cancel)
        column = QVBoxLayout(self)
        column.addWidget(intro)
        column.addLayout(ways)
        column.addLayout(source_row)
        column.addWidget(self.source_label)
        column.addWidget(self.progress)
        column.addWidget(self.status)
        column.addWidget(self.buttons)
        self.resize(max(600, self.sizeHint().width()), self.sizeHint().height())
        self._show_source()

    def source(self) -> str | None:
        return self.source_edit.text().strip() or None

    def _show_source(self, *_args) -> None:
        self.source_label.setText(
            f"The file comes from {source_of(self.item, self.source() or OFFICIAL_BASE)}"
        )

    def _choose_folder(self, folder: str | None = None) -> Task | None:
        """Way 2: copy the file from a folder (a USB stick, a shared drive)."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, f"The folder that holds {self.item.file_name}")
        if not folder:
            return None
        self.source_edit.setText(folder)
        return self.start()

    def _choose_file(self, file: str | None = None) -> Task | None:
        """Way 3: a weights file from a colleague, checked against the network (core.weights.importer)."""
        if file is None:
            file, _ = QFileDialog.getOpenFileName(
                self,
                f"A weights file of {self.item.title}",
                "",
                "Weights (*.pth *.pt *.safetensors);;All (*)",
            )
        if not file:
            return None
        name = self.item.name

        def job(_ctx):
            from cnnstudio.core.weights.importer import import_weights

            return str(import_weights(file, name)[1])

        self._set_status(f"Checking {os.path.basename(file)}…")
        return self._run(f"Checking the {self.item.title} weights", job)

    def start(self) -> Task:
        """Way 1: fetch in a worker thread (the only network connection the app makes, and only now);
        also way 2, when the source is a folder."""
        source = self.source()
        self.settings.setValue(SOURCE_SETTING, source or "")
        name = self.item.name
        self._set_status(f"Getting the file from {source_of(self.item, source or OFFICIAL_BASE)}…")

        def job(ctx):
            return str(fetch(name, source or OFFICIAL_BASE, progress=ctx.progress, stop=ctx.should_stop))

        return self._run(f"Getting the {self.item.title} weights", job)

    def _run(self, title: str, job) -> Task:
        for widget in (self.download_button, self.folder_button, self.file_button, self.source_edit):
            widget.setEnabled(False)
        self.task = self.tasks.start(title, job)
        self.task.progressed.connect(self._progressed)
        self.task.succeeded.connect(self._succeeded)
        self.task.failed.connect(self._failed)
        self.task.cancelled.connect(self._cancelled)
        return self.task

    def _enable(self) -> None:
        for widget in (self.download_button, self.folder_button, self.file_button, self.source_edit):
            widget.setEnabled(True)

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
        # The core's advice names commands for the terminal; the dialog has a button for each way.
        message = message.replace(offline_help(self.item), "").strip()
        self._set_status(
            f"{message}\nNo internet here? Use “From a folder or USB stick” or “A file from a colleague”.",
            error=True,
        )
        self.download_button.setText("Try again")
        self._enable()

    def _cancelled(self) -> None:
        self.task = None
        self._set_status("Stopped. The part already downloaded is kept for next time.")
        self.download_button.setText("Continue")
        self._enable()

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
        # The dialog grows with its message: a long one is never cut mid-sentence.
        needed = self.sizeHint().height()
        if needed > self.height():
            self.resize(self.width(), needed)
