"""A splitter that lays its panes side by side when it is wide enough, else one above the other.

A section with three panes (Evaluate: matrix, pictures, one picture) fits a 1360-pixel window side
by side; at 1000 pixels the last two stack instead of cutting their tab titles and buttons.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSplitter, QWidget


class FoldingSplitter(QSplitter):
    def __init__(self, wide_from: int, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.wide_from = wide_from  # pixels: at least this wide, the panes sit side by side
        self.setChildrenCollapsible(False)

    def resizeEvent(self, event: QResizeEvent) -> None:
        wide = event.size().width() >= self.wide_from
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if orientation != self.orientation():
            self.setOrientation(orientation)
        super().resizeEvent(event)

    def minimumSizeHint(self):  # noqa: N802 (Qt's name)
        # Measured as if stacked: the narrow form is the one that must fit; side by side comes with room.
        hint = super().minimumSizeHint()
        if self.orientation() == Qt.Orientation.Horizontal and self.count():
            hint.setWidth(max(self.widget(i).minimumSizeHint().width() for i in range(self.count())))
        return hint


class WrappedLabel(QLabel):
    """A word-wrapped label that asks its layout for the height its text needs at its width (a plain
    wrapped QLabel can be squeezed to fewer lines than its text needs when the window is short)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWordWrap(True)

    def minimumSizeHint(self):  # noqa: N802 (Qt's name)
        hint = super().minimumSizeHint()
        if self.width() > 0 and self.text():
            hint.setHeight(max(hint.height(), self.heightForWidth(self.width())))
        return hint

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.updateGeometry()
