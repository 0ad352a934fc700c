""" "Write labels to folders": choose copy (into a new folder) or move (in place), see what will happen, confirm.

Nothing is touched until the user presses the button that names what will happen ("Copy 1,797
images"). The plan comes from core.labels.folders.plan_write, so what this dialog says is what is done.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
)

from cnnstudio.core.errors import UserError
from cnnstudio.gui.session import ProjectSession


class WriteLabelsDialog(QDialog):
    def __init__(self, session: ProjectSession, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Write labels to folders")
        self.session = session
        self.plan = None
        intro = QLabel(
            "Until now your labels live only in the project; your folders are untouched. "
            "This puts each labelled image into a folder named after its class.",
            wordWrap=True,
        )
        self.copy_radio = QRadioButton("Copy into a new folder (your image folder stays as it is)")
        self.move_radio = QRadioButton("Move within the image folder (reorganises it in place)")
        self.copy_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.copy_radio)
        group.addButton(self.move_radio)
        source = session.project.source if session.project else None
        default = (source.parent / f"{source.name}-labelled") if source is not None else Path.home()
        self.destination = QLineEdit(str(default))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        dest_row = QHBoxLayout()
        dest_row.addSpacing(24)
        dest_row.addWidget(self.destination, 1)
        dest_row.addWidget(browse)
        self.summary = QLabel(wordWrap=True)
        self.summary.setMinimumHeight(70)
        undo = QLabel(
            "An undo journal is kept in the project: Data ▸ Undo last write to folders puts every file back.",
            wordWrap=True,
        )
        undo.setEnabled(False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok = self.buttons.addButton("Write", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addSpacing(6)
        layout.addWidget(self.copy_radio)
        layout.addLayout(dest_row)
        layout.addWidget(self.move_radio)
        layout.addSpacing(6)
        layout.addWidget(self.summary)
        layout.addWidget(undo)
        layout.addWidget(self.buttons)
        self.resize(620, 320)

        self.copy_radio.toggled.connect(self.update_plan)
        self.destination.textChanged.connect(self.update_plan)
        self.update_plan()

    @property
    def mode(self) -> str:
        return "copy" if self.copy_radio.isChecked() else "move"

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Copy the labelled images into", self.destination.text()
        )
        if folder:
            self.destination.setText(folder)

    def update_plan(self) -> None:
        from cnnstudio.core.labels.folders import plan_write

        self.destination.setEnabled(self.mode == "copy")
        session = self.session
        try:
            destination = (self.destination.text().strip() or None) if self.mode == "copy" else None
            self.plan = plan_write(session.project, session.index, self.mode, destination)
        except UserError as exc:
            self.plan = None
            self.summary.setText(f"<b>Cannot write:</b> {exc}")
            self.ok.setEnabled(False)
            self.ok.setText("Write")
            return
        n = len(self.plan.ops)
        self.summary.setText(self.plan.summary())
        self.ok.setEnabled(n > 0)
        verb = "Copy" if self.mode == "copy" else "Move"
        self.ok.setText(f"{verb} {n:,} images" if n else "Nothing to write")
