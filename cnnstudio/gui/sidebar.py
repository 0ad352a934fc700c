"""The column of section buttons on the left of the main window (icon above the title)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QFrame, QSizePolicy, QToolButton, QVBoxLayout

from cnnstudio.gui.style import icon


class Sidebar(QFrame):
    current_changed = Signal(int)

    def __init__(self, entries: list[tuple[str, str]], parent=None):
        """`entries`: (title, icon name) per section."""
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 8, 6, 8)
        layout.setSpacing(4)
        self.buttons: list[QToolButton] = []
        for i, (title, icon_name) in enumerate(entries):
            button = QToolButton(self)
            button.setText(title)
            button.setIcon(icon(icon_name))
            button.setIconSize(QSize(26, 26))
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setCheckable(True)
            button.setAutoRaise(True)
            button.setMinimumSize(80, 64)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.setToolTip(f"{title} (Ctrl+{i + 1})")
            self.group.addButton(button, i)
            layout.addWidget(button)
            self.buttons.append(button)
        layout.addStretch(1)
        # "?": the user guide's page of the section that is open (the main window connects it).
        self.help_button = QToolButton(self)
        self.help_button.setText("?  Guide")
        self.help_button.setAutoRaise(True)
        self.help_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.help_button.setToolTip("How this section works, with pictures (F1)")
        layout.addWidget(self.help_button)
        self.group.idClicked.connect(self.current_changed)
        self.setFixedWidth(96)

    def current(self) -> int:
        return self.group.checkedId()

    def set_current(self, i: int) -> None:
        if 0 <= i < len(self.buttons) and self.current() != i:
            self.buttons[i].setChecked(True)
            self.current_changed.emit(i)
