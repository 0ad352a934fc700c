""" "Use from other programs": serve the chosen model to other programs on this computer.

A dialog of the Predict section: start and stop a prediction service (core.serve.Service, on a
thread of the app, 127.0.0.1 only: `cnnstudio serve --host ... --token ...` serves other computers),
its address, copy-paste examples (curl, Python, a no-code tool's HTTP step) and how many pictures
it has answered. Closing the dialog stops the service.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.serve.options import DEFAULT_PORT
from cnnstudio.gui.style import icon, muted_color

REFRESH_MS = 500  # how often the count of pictures answered is updated


class ServeDialog(QDialog):
    """Serve `source` (a run folder or a .cnnmodel file, `name` in words) while the dialog is open."""

    def __init__(self, source: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.service = None  # core.serve.server.Service while serving
        self.setWindowTitle("Use from other programs")
        self.setMinimumWidth(760)

        intro = QLabel(
            f"<b>{name}</b> can answer other programs on this computer: a script, a spreadsheet or "
            "no-code tool, a lab or home-automation system. They send a picture to a web address "
            "and get back its class, the confidence and whether it looks unlike the training "
            "pictures, exactly as Predict shows them.",
            self,
            wordWrap=True,
        )
        self.port = QSpinBox(self)
        self.port.setRange(1024, 65535)
        self.port.setValue(DEFAULT_PORT)
        self.port.setToolTip("The port of the address; change it when another program uses this one.")
        self.start_button = QPushButton(icon("predict"), "Start serving", self)
        self.stop_button = QPushButton(icon("close"), "Stop", self)
        self.stop_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(QLabel("Port:", self))
        row.addWidget(self.port)
        row.addWidget(self.start_button)
        row.addWidget(self.stop_button)
        row.addStretch(1)

        self.address = QLabel(self, wordWrap=True)
        self.address.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.answered = QLabel(self)
        self.answered.setStyleSheet(f"color: {muted_color().name()}")
        self.examples = QTabWidget(self)
        self.copy_button = QPushButton("Copy example", self)
        note = QLabel(
            "Only programs on this computer can reach it. To serve other computers, use "
            "<code>cnnstudio serve MODEL --host 0.0.0.0 --token SECRET</code> in a terminal. "
            "Closing this window stops serving.",
            self,
            wordWrap=True,
        )
        note.setStyleSheet(f"color: {muted_color().name()}")

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(row)
        layout.addWidget(self.address)
        layout.addWidget(self.answered)
        layout.addWidget(self.examples, 1)
        copy_row = QHBoxLayout()
        copy_row.addStretch(1)
        copy_row.addWidget(self.copy_button)
        layout.addLayout(copy_row)
        layout.addWidget(note)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._show_count)
        self.start_button.clicked.connect(lambda: self.start())
        self.stop_button.clicked.connect(lambda: self.stop())
        self.copy_button.clicked.connect(self.copy_example)
        self._show_examples(f"http://127.0.0.1:{self.port.value()}")
        self._show_state()

    @property
    def url(self) -> str | None:
        return self.service.url if self.service is not None else None

    def start(self) -> bool:
        """Load the model and serve it; False (and the reason shown) when it cannot start."""
        if self.service is not None:
            return True
        from cnnstudio.core.errors import UserError
        from cnnstudio.core.export import Predictor
        from cnnstudio.core.models import load_model
        from cnnstudio.core.serve import ServeOptions
        from cnnstudio.core.serve.server import Service

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            predictor = Predictor(load_model(self.source))
            self.service = Service(predictor, ServeOptions(port=self.port.value())).start()
        except (UserError, RuntimeError, OSError) as exc:
            self.service = None
            self.address.setText(f"Could not start: {exc}")
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self._show_examples(self.service.url)
        self.timer.start()
        self._show_state()
        return True

    def stop(self) -> None:
        if self.service is None:
            return
        self.timer.stop()
        self.service.stop()
        self._show_count()
        self.service = None
        self._show_state()

    def copy_example(self) -> str:
        editor = self.examples.currentWidget()
        text = editor.toPlainText() if isinstance(editor, QPlainTextEdit) else ""
        QGuiApplication.clipboard().setText(text)
        return text

    def _show_examples(self, url: str) -> None:
        from cnnstudio.core.serve.examples import examples

        current = self.examples.currentIndex()
        self.examples.clear()
        for title, text in examples(url).items():
            editor = QPlainTextEdit(text, self)
            editor.setReadOnly(True)
            editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
            self.examples.addTab(editor, title)
        self.examples.setCurrentIndex(max(0, current))

    def _show_state(self) -> None:
        serving = self.service is not None
        self.start_button.setEnabled(not serving)
        self.stop_button.setEnabled(serving)
        self.port.setEnabled(not serving)
        if serving:
            self.address.setText(
                f'<b>Serving at <a href="{self.url}/docs">{self.url}</a></b>: programs send pictures to '
                f"<code>{self.url}/predict</code> (the link opens its documentation)."
            )
            self.address.setOpenExternalLinks(True)
            self.address.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        elif not self.address.text().startswith("Could not start"):
            self.address.setText("Not serving. Start serving to give other programs an address.")
        self._show_count()

    def _show_count(self) -> None:
        if self.service is None and not self.answered.text():
            return
        count = self.service.pictures_answered if self.service is not None else self._last_count
        self._last_count = count
        self.answered.setText(f"{count:,} picture{'s' if count != 1 else ''} answered")

    _last_count = 0

    def closeEvent(self, event) -> None:
        self.stop()
        super().closeEvent(event)

    def done(self, result: int) -> None:  # Esc, or the window's close button on some platforms
        self.stop()
        super().done(result)


def add_serve_button(section) -> QPushButton:
    """Put "Use from other programs…" beside the Predict section's "Open a model file…" button."""
    button = QPushButton(icon("predict"), "Use from other programs…", section)
    button.setToolTip("Serve the chosen model to other programs on this computer (a local web address).")
    row = _layout_holding(section.layout(), section.open_model)
    row.insertWidget(row.indexOf(section.open_model) + 1, button)

    def update() -> None:
        button.setEnabled(section.model_source is not None)

    def open_dialog() -> None:
        dialog = getattr(section, "serve_dialog", None)
        if dialog is None or not dialog.isVisible() or dialog.source != section.model_source:
            if dialog is not None:
                dialog.close()
            name = section.model_combo.currentText()
            dialog = ServeDialog(section.model_source, name, section)
            section.serve_dialog = dialog
        dialog.show()
        dialog.raise_()

    section.model_combo.currentIndexChanged.connect(lambda _i: update())
    button.clicked.connect(open_dialog)
    section.serve_button = button
    update()
    return button


def _layout_holding(layout, widget):
    for i in range(layout.count()):
        item = layout.itemAt(i)
        if item.widget() is widget:
            return layout
        if item.layout() is not None:
            found = _layout_holding(item.layout(), widget)
            if found is not None:
                return found
    return None
