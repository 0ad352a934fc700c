""" "Show as code": the design as PyTorch code (what CNN Studio builds) and as Keras code in the
guide's style, read-only, with Copy and Save buttons."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.atomic import write_bytes_atomic
from cnnstudio.core.errors import UserError
from cnnstudio.core.spec import ModelSpec
from cnnstudio.core.spec.codegen import keras_code, pytorch_code
from cnnstudio.gui.filenames import file_name_part
from cnnstudio.gui.style import muted_color

NOTES = {
    "PyTorch": "The model CNN Studio builds and trains, as a PyTorch module you can run and change.",
    "Keras": "A translation in the Keras guide's style: the same layers and shapes. Keras orders a "
    "Flatten's numbers row by row, CNN Studio channel by channel, so weights do not carry over. "
    "Keras has no ResNet-18: the code writes it out block by block, and it starts from random "
    "weights there (Keras has no ImageNet weights for it).",
}


class CodeDialog(QDialog):
    def __init__(self, spec: ModelSpec, num_classes: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"CNN Studio — {spec.name} as code")
        self.resize(860, 680)
        self.spec_name = spec.name
        self.tabs = QTabWidget(self)
        self.editors: dict[str, QPlainTextEdit] = {}
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        for title, make in (("PyTorch", pytorch_code), ("Keras", keras_code)):
            try:
                text = make(spec, num_classes)
            except UserError as exc:
                text = f"# {exc}\n"
            page = QWidget(self.tabs)
            column = QVBoxLayout(page)
            note = QLabel(NOTES[title], page)
            note.setWordWrap(True)
            note.setStyleSheet(f"color:{muted_color().name()}")
            editor = QPlainTextEdit(page)
            editor.setReadOnly(True)
            editor.setFont(font)
            editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            editor.setPlainText(text)
            column.addWidget(note)
            column.addWidget(editor, 1)
            self.tabs.addTab(page, title)
            self.editors[title] = editor
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setToolTip("Copy the code of this tab to the clipboard")
        self.copy_button.clicked.connect(self.copy)
        self.save_button = QPushButton("Save as…", self)
        self.save_button.clicked.connect(self.save)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.copied = QLabel("", self)
        self.copied.setStyleSheet(f"color:{muted_color().name()}")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.copied)
        layout.addWidget(buttons)

    def current_code(self) -> str:
        return self.editors[self.tabs.tabText(self.tabs.currentIndex())].toPlainText()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.current_code())
        self.copied.setText(f"The {self.tabs.tabText(self.tabs.currentIndex())} code is on the clipboard.")

    def save(self) -> None:
        kind = self.tabs.tabText(self.tabs.currentIndex()).lower()
        default = str(Path.home() / f"{file_name_part(self.spec_name)}_{kind}.py")
        path, _ = QFileDialog.getSaveFileName(self, "Save the code", default, "Python (*.py)")
        if path:
            try:
                write_bytes_atomic(Path(path), self.current_code().encode("utf-8"))
            except OSError as exc:
                self.copied.setText(f"Could not save: {exc.strerror or exc}")
                return
            self.copied.setText(f"Saved {path}")
