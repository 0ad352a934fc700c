"""The reliability diagram: how often the model is right at each confidence, before and after calibration.

Drawn from the "bins" of an evaluation's calibration summary (core.trust: 15
equal-width confidence bins with their mean confidence and accuracy).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from cnnstudio.gui.style import muted_color

EXPLANATION = (
    "Each bar is the pictures the model was about that sure of: its height is how many of them it got "
    "right. On the diagonal, a shown 80% is right 80% of the time. Bars below it mean over-confidence. "
    "The app shows the calibrated confidences (filled bars)."
)
BEFORE = QColor(200, 120, 60)
AFTER = QColor(60, 120, 200)


class ReliabilityChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.before: list[dict] = []
        self.after: list[dict] = []
        self.setMinimumSize(240, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_bins(self, before: list[dict], after: list[dict]) -> None:
        self.before, self.after = list(before or []), list(after or [])
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(360, 300)

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        margin = 36
        area = QRectF(margin, 10, max(10, self.width() - margin - 12), max(10, self.height() - margin - 10))
        text = self.palette().windowText().color()
        painter.setPen(QPen(muted_color(), 1))
        painter.drawRect(area)

        def point(x: float, y: float) -> QPointF:
            return QPointF(area.left() + x * area.width(), area.bottom() - y * area.height())

        painter.setPen(QPen(muted_color(), 1, Qt.PenStyle.DashLine))
        painter.drawLine(point(0, 0), point(1, 1))
        n = max(len(self.after), len(self.before), 1)
        width = area.width() / n
        for b in self.after:
            if b.get("count") and b.get("accuracy") is not None:
                top = point(b["lower"], b["accuracy"])
                painter.fillRect(QRectF(top.x() + 1, top.y(), width - 2, area.bottom() - top.y()), AFTER)
        painter.setPen(QPen(BEFORE, 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for b in self.before:
            if b.get("count") and b.get("accuracy") is not None:
                top = point(b["lower"], b["accuracy"])
                painter.drawRect(QRectF(top.x() + 2, top.y(), width - 4, area.bottom() - top.y()))
        painter.setPen(text)
        painter.drawText(
            QRectF(area.left(), area.bottom() + 4, area.width(), 16),
            Qt.AlignmentFlag.AlignCenter,
            "confidence",
        )
        painter.drawText(QRectF(0, area.top(), margin - 4, 16), Qt.AlignmentFlag.AlignRight, "100%")
        painter.drawText(QRectF(0, area.bottom() - 14, margin - 4, 16), Qt.AlignmentFlag.AlignRight, "0%")
        painter.setPen(AFTER)
        painter.drawText(QRectF(area.left() + 6, area.top() + 4, 200, 16), "■ after calibration")
        painter.setPen(BEFORE)
        painter.drawText(QRectF(area.left() + 6, area.top() + 20, 200, 16), "□ before")
        painter.end()


class CalibrationPage(QWidget):
    """The chart, one plain sentence of what it means, and the numbers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chart = ReliabilityChart(self)
        self.caption = QLabel(EXPLANATION, self, wordWrap=True)
        self.numbers = QLabel(self, wordWrap=True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.numbers)

    def set_calibration(self, calibration: dict | None) -> None:
        if not calibration or not calibration.get("calibrated"):
            self.chart.set_bins([], [])
            self.numbers.setText(
                "This run is not calibrated (it was trained before calibration existed): its confidences "
                "are the model's raw ones. `cnnstudio evaluate PROJECT --recalibrate` calibrates it."
            )
            return
        self.chart.set_bins(calibration.get("bins_before") or [], calibration.get("bins") or [])
        status = str(calibration.get("status") or "")
        self.numbers.setText(
            f"Calibration error on these pictures: {calibration['ece_before']:.3f} before, "
            f"{calibration['ece_after']:.3f} after (0 is perfect). {status[:1].upper()}{status[1:]}."
        )
