"""One picture from an evaluation: the picture, the probabilities as bars, where the model looked.

The Grad-CAM overlay is computed by the Evaluate section in a worker (it runs the model) and handed
to `set_overlay`; it has the picture's own size, so it lines up with the picture exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QAction, QFontMetrics, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.gui.data.viewer import ImageCanvas, read_image
from cnnstudio.gui.evaluate.confusion import CORRECT, WRONG
from cnnstudio.gui.style import icon, muted_color

MAX_BARS = 6


@dataclass(frozen=True)
class Picture:
    index: int  # row in the EvaluationReport
    path: str
    label: str  # as evaluated
    predicted: str
    probs: tuple[float, ...]
    class_names: tuple[str, ...]
    loss: float


def rgb_to_qimage(array: np.ndarray) -> QImage:
    """(H, W, 3) uint8 -> a QImage that owns its pixels."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    height, width = array.shape[:2]
    return QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class ProbabilityBars(QWidget):
    """The most likely classes as horizontal bars; the given label is marked."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[str, float, bool, bool]] = []  # name, p, is predicted, is label
        self.rest: tuple[int, float] | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_probabilities(self, probs: tuple[float, ...], names: tuple[str, ...], label: str) -> None:
        order = sorted(range(len(probs)), key=lambda i: -probs[i])
        shown = order if len(order) <= MAX_BARS + 1 else order[:MAX_BARS]
        if label in names and names.index(label) not in shown:
            shown = shown[:-1] + [names.index(label)]  # the given label is always shown
        top = order[0] if order else -1
        self.rows = [(names[i], float(probs[i]), i == top, names[i] == label) for i in shown]
        hidden = [i for i in order if i not in shown]
        self.rest = (len(hidden), float(sum(probs[i] for i in hidden))) if hidden else None
        self.updateGeometry()
        self.update()

    def clear(self) -> None:
        self.rows, self.rest = [], None
        self.updateGeometry()
        self.update()

    def _line(self) -> int:
        return QFontMetrics(self.font()).height() + 6

    def sizeHint(self) -> QSize:
        return QSize(260, self._line() * (len(self.rows) + (1 if self.rest else 0)) + 4)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        metrics = QFontMetrics(self.font())
        line = self._line()
        name_w = min(int(self.width() * 0.38), 160)
        pct_w = metrics.horizontalAdvance("100.0%") + 6
        bar_x = name_w + 8
        bar_w = max(10, self.width() - bar_x - pct_w - 4)
        text = self.palette().color(QPalette.ColorRole.Text)
        track = self.palette().color(QPalette.ColorRole.AlternateBase)
        for i, (name, p, predicted, is_label) in enumerate(self.rows):
            y = i * line + 2
            shown = name + ("  (label)" if is_label else "")
            font = self.font()
            font.setBold(predicted)
            painter.setFont(font)
            painter.setPen(text)
            painter.drawText(
                QRectF(0, y, name_w, line),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                QFontMetrics(font).elidedText(shown, Qt.TextElideMode.ElideMiddle, name_w),
            )
            painter.fillRect(QRectF(bar_x, y + 4, bar_w, line - 8), track)
            # The true class in blue, the model's wrong answer in red, the others grey.
            color = CORRECT if is_label else WRONG if predicted else muted_color(self.palette())
            painter.fillRect(QRectF(bar_x, y + 4, max(1.0, bar_w * p), line - 8), color)
            painter.drawText(
                QRectF(bar_x + bar_w + 4, y, pct_w, line),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"{p:.1%}",
            )
        if self.rest:
            n, p = self.rest
            painter.setFont(self.font())
            painter.setPen(muted_color(self.palette()))
            painter.drawText(
                QRectF(0, len(self.rows) * line + 2, self.width(), line),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"{n} other classes together: {p:.1%}",
            )


class ImagePanel(QWidget):
    gradcam_toggled = Signal(bool)
    relabel_requested = Signal(str, str)  # path, new label
    exclude_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.picture: Picture | None = None
        self.image = QImage()
        self.overlay: QImage | None = None
        self.title = QLabel(self, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verdict = QLabel(self, wordWrap=True)
        self.canvas = ImageCanvas(self)
        self.canvas.setMinimumSize(200, 200)
        self.gradcam = QCheckBox("Show where the model looked (Grad-CAM)", self)
        self.gradcam.setToolTip(
            "Colours the parts of the picture that pushed the model towards its answer: red most, blue least."
        )
        self.gradcam.toggled.connect(self._gradcam_toggled)
        self.gradcam_status = QLabel(self, wordWrap=True)
        self.gradcam_status.setStyleSheet(f"color: {muted_color().name()}")
        self.gradcam_scale = _heat_scale(self)
        self.gradcam_scale.hide()
        self.bars = ProbabilityBars(self)
        self.relabel = QPushButton("Relabel as", self)
        self.relabel.setToolTip("Give this picture another label in the project (Ctrl+Z undoes it).")
        self.relabel_menu = QMenu(self.relabel)
        self.relabel.setMenu(self.relabel_menu)
        self.exclude = QPushButton("Exclude", self)
        self.exclude.setToolTip("Leave this picture out of the project (the file stays; Ctrl+Z undoes it).")
        self.exclude.clicked.connect(lambda: self.picture and self.exclude_requested.emit(self.picture.path))
        self.path = QLabel(self, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path.setStyleSheet(f"color: {muted_color().name()}")
        self.path.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.show_folder = QPushButton(icon("folder"), "Show in folder", self)
        self.show_folder.clicked.connect(self._show_in_folder)

        actions = QHBoxLayout()
        actions.addWidget(self.relabel)
        actions.addWidget(self.exclude)
        actions.addStretch(1)
        actions.addWidget(self.show_folder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.verdict)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.gradcam)
        layout.addWidget(self.gradcam_status)
        layout.addWidget(self.gradcam_scale)
        layout.addWidget(self.bars)
        layout.addWidget(self.path)
        layout.addLayout(actions)
        self.show_picture(None)

    def show_picture(
        self, picture: Picture | None, current_label: str | None = None, editable: bool = True
    ) -> None:
        """Show a picture (None: nothing chosen). `current_label` is its label in the project now."""
        self.picture = picture
        self.overlay = None
        self.gradcam_status.setText("")
        self.gradcam_status.hide()
        self.gradcam_scale.hide()
        for widget in (self.gradcam, self.relabel, self.exclude, self.show_folder):
            widget.setEnabled(picture is not None)
        if picture is None:
            self.title.setText("<b>No picture chosen</b>")
            self.verdict.setText("Click a cell of the confusion matrix, then a picture.")
            self.image = QImage()
            self.canvas.set_image(self.image, "")
            self.bars.clear()
            self.path.setText("")
            self.path.setToolTip("")
            return
        self.title.setText(f"<b>{picture.path.rsplit('/', 1)[-1]}</b>")
        p = picture.probs[picture.class_names.index(picture.predicted)]
        right = picture.label == picture.predicted
        color = (CORRECT if right else WRONG).name()
        verdict = (
            f"Labelled <b>{picture.label}</b> · the model says "
            f"<b style='color:{color}'>{picture.predicted}</b> ({p:.1%} sure)"
        )
        if current_label is not None and current_label != picture.label:
            verdict += f"<br>Relabelled since: now <b>{current_label}</b>."
        self.verdict.setText(verdict)
        self.image, message = read_image(picture.path)
        self.canvas.set_image(self.image, message)
        self.bars.set_probabilities(picture.probs, picture.class_names, picture.label)
        self.path.setToolTip(picture.path)
        self._elide_path()
        self._fill_relabel_menu(picture, current_label)
        self.relabel.setEnabled(editable)
        self.exclude.setEnabled(editable)
        if not editable:
            self.relabel.setToolTip("This picture is not part of the project.")
        if self.gradcam.isChecked():
            self.gradcam_toggled.emit(True)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide_path()

    def _elide_path(self) -> None:
        # The file name is the end of the path: shorten the middle, keep the name readable.
        if self.picture is not None:
            width = max(40, self.width() - 12)
            self.path.setText(
                self.path.fontMetrics().elidedText(self.picture.path, Qt.TextElideMode.ElideMiddle, width)
            )

    def _fill_relabel_menu(self, picture: Picture, current: str | None) -> None:
        self.relabel_menu.clear()
        current = current or picture.label
        # The model's answer first: the most likely fix.
        names = [picture.predicted] + [n for n in picture.class_names if n != picture.predicted]
        for name in names:
            action = QAction(name, self.relabel_menu)
            action.setEnabled(name != current)
            action.triggered.connect(lambda _c=False, n=name: self.relabel_requested.emit(picture.path, n))
            self.relabel_menu.addAction(action)
            if name == picture.predicted and len(names) > 1:
                self.relabel_menu.addSeparator()

    def set_overlay(self, overlay: QImage | None, status: str = "") -> None:
        """The Grad-CAM picture (same size as the picture), or None with a reason."""
        self.overlay = overlay
        self.gradcam_status.setText(status)
        self.gradcam_status.setVisible(bool(status))
        if overlay is not None and self.gradcam_scale.strip.pixmap().isNull():
            from cnnstudio.gui.evaluate.jobs import scale_strip  # its colours come with torch's module

            self.gradcam_scale.strip.setPixmap(QPixmap.fromImage(rgb_to_qimage(scale_strip(160, 12))))
        self.gradcam_scale.setVisible(self.gradcam.isChecked() and overlay is not None)
        if self.gradcam.isChecked() and overlay is not None:
            self.canvas.set_image(overlay)
        elif not self.gradcam.isChecked():
            self.canvas.set_image(self.image)

    def set_gradcam_busy(self) -> None:
        self.gradcam_status.setText("Working out where the model looked…")
        self.gradcam_status.show()

    def _gradcam_toggled(self, on: bool) -> None:
        self.gradcam_scale.setVisible(on and self.overlay is not None)
        if not on:
            self.canvas.set_image(self.image)
            self.gradcam_status.hide()
        elif self.overlay is not None:
            self.canvas.set_image(self.overlay)
        if self.picture is not None:
            self.gradcam_toggled.emit(on)

    def _show_in_folder(self) -> None:
        from cnnstudio.gui.folders import show_in_folder

        if self.picture is not None:
            show_in_folder(self.picture.path)


def _heat_scale(parent: QWidget) -> QWidget:
    """The Grad-CAM colour scale, as blended over the picture: "least" (blue) ... "most" (red)."""
    box = QWidget(parent)
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    least = QLabel("least", box)
    most = QLabel("most", box)
    for label in (least, most):
        label.setStyleSheet(f"color: {muted_color().name()}")
    strip = QLabel(box)
    strip.setFixedSize(160, 12)
    strip.setToolTip("How much each part of the picture pushed the model towards its answer.")
    row.addWidget(least)
    row.addWidget(strip)
    row.addWidget(most)
    row.addStretch(1)
    box.strip = strip  # type: ignore[attr-defined]
    return box
