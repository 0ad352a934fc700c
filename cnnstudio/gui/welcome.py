"""The first page: open a folder of images, try the demo, or pick up a recent project."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.gui.style import icon


class WelcomePage(QWidget):
    open_folder = Signal()
    open_project = Signal()
    try_demo = Signal()
    open_recent = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        logo = QLabel(self)
        logo.setPixmap(icon("app").pixmap(64, 64))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("CNN Studio", self, alignment=Qt.AlignmentFlag.AlignCenter)
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 2.2)
        font.setBold(True)
        title.setFont(font)
        subtitle = QLabel(
            "Teach the computer to tell your pictures apart — on this computer, without writing code.",
            self,
            alignment=Qt.AlignmentFlag.AlignCenter,
            wordWrap=True,
        )

        self.folder_button = self._big_button(
            "folder-open", "Open a folder of images", "One sub-folder per class works best: cats/, dogs/, …"
        )
        self.folder_button.clicked.connect(self.open_folder)
        self.demo_button = self._big_button(
            "demo", "Try the demo", "1,797 handwritten digits in 10 classes, ready to train"
        )
        self.demo_button.clicked.connect(self.try_demo)
        buttons = QHBoxLayout()
        buttons.setSpacing(16)
        buttons.addStretch(1)
        buttons.addWidget(self.folder_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)

        hint = QLabel(
            "You can also drop a folder anywhere on this window.  "
            '<a href="open">Open an existing project…</a>',
            self,
            alignment=Qt.AlignmentFlag.AlignCenter,
        )
        hint.linkActivated.connect(lambda _link: self.open_project.emit())

        self.recent_title = QLabel("<b>Recent projects</b>", self)
        self.recent = QListWidget(self)
        self.recent.setFrameShape(QFrame.Shape.NoFrame)
        self.recent.setMaximumWidth(560)
        self.recent.setMaximumHeight(170)
        self.recent.itemActivated.connect(
            lambda item: self.open_recent.emit(item.data(Qt.ItemDataRole.UserRole))
        )
        self.recent.itemClicked.connect(
            lambda item: self.open_recent.emit(item.data(Qt.ItemDataRole.UserRole))
        )
        recent_box = QVBoxLayout()
        recent_box.addWidget(self.recent_title)
        recent_box.addWidget(self.recent)
        recent_row = QHBoxLayout()
        recent_row.addStretch(1)
        recent_row.addLayout(recent_box)
        recent_row.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addWidget(logo)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addSpacing(28)
        layout.addLayout(buttons)
        layout.addSpacing(14)
        layout.addWidget(hint)
        layout.addSpacing(28)
        layout.addLayout(recent_row)
        layout.addStretch(3)
        self.set_recent([])

    def _big_button(self, icon_name: str, text: str, detail: str) -> QPushButton:
        button = QPushButton(icon(icon_name), f" {text}\n {detail}", self)
        button.setIconSize(QSize(32, 32))
        button.setToolTip(detail)
        button.setStyleSheet("QPushButton { text-align: left; padding: 10px 16px; }")
        button.setMinimumSize(330, 72)
        return button

    def set_recent(self, projects: list[str]) -> None:
        self.recent.clear()
        for path in projects:
            item = QListWidgetItem(icon("folder"), f"{Path(path).name}   —   {path}")
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            self.recent.addItem(item)
        self.recent.setVisible(bool(projects))
        self.recent_title.setVisible(bool(projects))
