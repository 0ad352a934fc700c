"""The large view of one image: file name, size, class, split; arrow keys move through the grid's images.

Number keys label the image shown, as in the grid, and move on to the next one, so a person can work
through the unlabelled queue here at full size.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QImage, QImageReader, QKeyEvent, QPainter, QPalette
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from cnnstudio.gui.data.thumbnail_model import ThumbnailModel, split_name
from cnnstudio.gui.style import icon

_MAX_SIDE = 2400  # big photos are decoded at about screen size: quicker, and nothing is lost on screen


class ImageCanvas(QWidget):
    """Draws an image as large as fits, small images enlarged with visible pixels."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image = QImage()
        self.message = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 240)

    def set_image(self, image: QImage, message: str = "") -> None:
        self.image = image
        self.message = message
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(720, 560)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Base))
        if self.image.isNull():
            painter.setPen(self.palette().color(QPalette.ColorRole.Text))
            painter.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message
            )
            return
        area = self.rect().adjusted(12, 12, -12, -12)
        w, h = self.image.width(), self.image.height()
        scale = min(area.width() / w, area.height() / h)
        if scale > 1:
            scale = max(1, int(scale))  # whole-number enlargement keeps pixels square
        tw, th = int(w * scale), int(h * scale)
        target = QRect(area.x() + (area.width() - tw) // 2, area.y() + (area.height() - th) // 2, tw, th)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1)
        painter.drawImage(target, self.image)


def read_image(path: str) -> tuple[QImage, str]:
    """The image for the viewer (EXIF orientation applied), or a null image and why."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > _MAX_SIDE:
        reader.setScaledSize(size.scaled(QSize(_MAX_SIDE, _MAX_SIDE), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        return image, f"This file cannot be shown ({reader.errorString()})."
    return image, ""


def _file_size(path: str) -> str:
    try:
        n = os.path.getsize(path)
    except OSError:
        return "missing"
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


class ImageViewer(QDialog):
    """Shows row `row` of `model`; ←/→ (and Page Up/Down) move, 1-9 label, 0 unlabels, Esc closes."""

    row_changed = Signal(int)
    label_key = Signal(int)  # the browser labels the current row, as for the grid's keys

    def __init__(self, model: ThumbnailModel, row: int, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Image")
        self.model = model
        self.row = row
        self.canvas = ImageCanvas(self)
        self.title = QLabel(self, textFormat=Qt.TextFormat.RichText)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel(self, wordWrap=True)
        self.position = QLabel(self)
        self.prev_button = QPushButton(icon("previous"), "Previous", self)
        self.next_button = QPushButton(icon("next"), "Next", self)
        self.folder_button = QPushButton(icon("folder-open"), "Show in folder", self)
        for button in (self.prev_button, self.next_button, self.folder_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrow keys stay with the viewer
        self.prev_button.clicked.connect(lambda: self.move_by(-1))
        self.next_button.clicked.connect(lambda: self.move_by(1))
        self.folder_button.clicked.connect(self._show_in_folder)

        info = QVBoxLayout()
        info.addWidget(self.title)
        info.addWidget(self.details)
        buttons = QHBoxLayout()
        buttons.addWidget(self.position)
        buttons.addStretch(1)
        hint = QLabel("← → to move · 1–9 to label · Esc to close", self)
        hint.setEnabled(False)
        buttons.addWidget(hint)
        buttons.addSpacing(12)
        buttons.addWidget(self.folder_button)
        buttons.addWidget(self.prev_button)
        buttons.addWidget(self.next_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(info)
        layout.addLayout(buttons)
        self.resize(860, 720)
        model.modelReset.connect(self._model_changed)
        model.rowsRemoved.connect(self._model_changed)
        model.rows_changed.connect(self._rows_changed)
        self.show_row(row)

    def show_row(self, row: int) -> None:
        n = self.model.rowCount()
        if n == 0:
            self.canvas.set_image(QImage(), "No images in this view.")
            self.title.setText("")
            self.details.setText("")
            self.position.setText("")
            return
        self.row = max(0, min(row, n - 1))
        sample = self.model.sample(self.row)
        image, message = read_image(sample.path)
        self.canvas.set_image(image, message or (sample.problem or ""))
        if not image.isNull() and sample.width is None:
            sample.width, sample.height = image.width(), image.height()
        self._show_info()
        self.row_changed.emit(self.row)

    def _show_info(self) -> None:
        if self.model.rowCount() == 0 or self.row >= self.model.rowCount():
            return
        sample = self.model.sample(self.row)
        self.setWindowTitle(os.path.basename(sample.path))
        self.title.setText(f"<b>{os.path.basename(sample.path)}</b>")
        parts = []
        if sample.width and sample.height:
            parts.append(f"{sample.width} × {sample.height} pixels")
        parts.append(_file_size(sample.path))
        parts.append(f"class: {sample.label or 'unlabelled'}")
        parts.append(f"split: {split_name(sample.split)}")
        text = " · ".join(parts)
        if sample.problem:
            text += f"\nCannot be used: {sample.problem}"
        self.details.setText(text)
        self.details.setToolTip(sample.path)
        n = self.model.rowCount()
        self.position.setText(f"{self.row + 1:,} of {n:,}")
        self.prev_button.setEnabled(self.row > 0)
        self.next_button.setEnabled(self.row < n - 1)

    def _rows_changed(self, rows: list[int]) -> None:
        if self.row in rows:
            self._show_info()

    def move_by(self, step: int) -> None:
        self.show_row(self.row + step)

    def _model_changed(self, *_args) -> None:
        self.show_row(min(self.row, self.model.rowCount() - 1))

    def _show_in_folder(self) -> None:
        from cnnstudio.gui.folders import show_in_folder

        if self.model.rowCount():
            show_in_folder(self.model.sample(self.row).path)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_PageDown, Qt.Key.Key_Space):
            self.move_by(1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Up, Qt.Key.Key_PageUp, Qt.Key.Key_Backspace):
            self.move_by(-1)
        elif key == Qt.Key.Key_Home:
            self.show_row(0)
        elif key == Qt.Key.Key_End:
            self.show_row(self.model.rowCount() - 1)
        elif (
            Qt.Key.Key_0 <= key <= Qt.Key.Key_9
            and not event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.label_key.emit(key - Qt.Key.Key_0)
        else:
            super().keyPressEvent(event)
            return
        event.accept()
