"""The reliability diagram: how often the model is right at each confidence, before and after calibration.

Drawn from the "bins" of an evaluation's calibration summary (core.trust: 15
equal-width confidence bins with their mean confidence and accuracy).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from cnnstudio.gui.style import muted_color

EXPLANATION = (
    "Each bar is the pictures the model was about that sure of: its height is how many of them it got "
    "right. On the diagonal, a shown 80% is right 80% of the time. Bars below it mean over-confidence. "
    "The app shows the calibrated confidences (filled bars)."
)
BEFORE = QColor(200, 120, 60)
TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
AFTER = QColor(60, 120, 200)
AXIS_CAPTION = "confidence (numbers on top: pictures in each bar)"
LEFT, TOP, RIGHT = 44, 12, 12  # margins around the plot: tick labels on the left


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

    def tick_labels(self) -> list[str]:
        """The labels on both axes (confidence along, share right up)."""
        return [f"{round(v * 100)}%" for v in TICKS]

    def count_labels(self) -> list[tuple[dict, str]]:
        """(bin, "n") over each bar: a bar of 1 picture must not look like a full one."""
        return [(b, f"{int(b['count']):,}") for b in self.after if b.get("count")]

    def axis_caption_box(self) -> QRectF:
        """Where the caption under the confidence axis goes: centred under the plot on one line when
        it fits, else over the chart's whole width on as many lines as it takes (never cut)."""
        metrics = QFontMetricsF(self.font())
        plot = max(10.0, self.width() - LEFT - RIGHT)
        if metrics.horizontalAdvance(AXIS_CAPTION) <= plot:
            lines, x, width = 1, float(LEFT), plot
        else:
            x, width = 2.0, max(10.0, self.width() - 4.0)
            flags = int(Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap)
            lines = round(
                metrics.boundingRect(QRectF(0, 0, width, 1e4), flags, AXIS_CAPTION).height()
                / metrics.lineSpacing()
            )
        height = max(16.0, lines * metrics.lineSpacing())
        return QRectF(x, self.height() - height - 4, width, height)

    def plot_area(self, caption: QRectF) -> QRectF:
        """The plot's frame: it ends 20 pixels above the caption, room for the ticks and their labels."""
        return QRectF(LEFT, TOP, max(10, self.width() - LEFT - RIGHT), max(10, caption.top() - 20 - TOP))

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        caption = self.axis_caption_box()
        area = self.plot_area(caption)
        text = self.palette().windowText().color()
        painter.setPen(QPen(muted_color(), 1))
        painter.drawRect(area)

        def point(x: float, y: float) -> QPointF:
            return QPointF(area.left() + x * area.width(), area.bottom() - y * area.height())

        small = QFont(self.font())
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.8))
        painter.setFont(small)
        for value, label in zip(TICKS, self.tick_labels(), strict=True):  # ticks and labels, both axes
            x, y = point(value, 0).x(), point(0, value).y()
            painter.setPen(QPen(muted_color(), 1))
            painter.drawLine(QPointF(x, area.bottom()), QPointF(x, area.bottom() + 4))
            painter.drawLine(QPointF(area.left() - 4, y), QPointF(area.left(), y))
            painter.setPen(text)
            painter.drawText(QRectF(x - 20, area.bottom() + 4, 40, 14), Qt.AlignmentFlag.AlignCenter, label)
            painter.drawText(
                QRectF(0, y - 7, LEFT - 7, 14),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                label,
            )
        painter.setPen(QPen(muted_color(), 1, Qt.PenStyle.DashLine))
        painter.drawLine(point(0, 0), point(1, 1))

        def width(b: dict) -> float:  # a bin spans lower..upper of the confidence axis
            return (float(b["upper"]) - float(b["lower"])) * area.width()

        for b in self.after:
            if b.get("count") and b.get("accuracy") is not None:
                top = point(b["lower"], b["accuracy"])
                painter.fillRect(QRectF(top.x() + 1, top.y(), width(b) - 2, area.bottom() - top.y()), AFTER)
        painter.setPen(QPen(BEFORE, 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for b in self.before:
            if b.get("count") and b.get("accuracy") is not None:
                top = point(b["lower"], b["accuracy"])
                painter.drawRect(QRectF(top.x() + 2, top.y(), width(b) - 4, area.bottom() - top.y()))
        painter.setPen(text)
        for b, label in self.count_labels():  # how many pictures each bar stands for
            painter.drawText(
                QRectF(point(b["lower"], 0).x() - 6, area.top() + 2, width(b) + 12, 14),
                Qt.AlignmentFlag.AlignCenter,
                label,
            )
        painter.setFont(self.font())
        painter.drawText(caption, Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap, AXIS_CAPTION)
        painter.setPen(AFTER)
        painter.drawText(QRectF(area.left() + 6, area.top() + 18, 200, 16), "■ after calibration")
        painter.setPen(BEFORE)
        painter.drawText(QRectF(area.left() + 6, area.top() + 34, 200, 16), "□ before")
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
                "are the model's raw ones. A new run is calibrated when its training ends; this one can be "
                "calibrated from a terminal with: cnnstudio evaluate PROJECT --recalibrate."
            )
            return
        self.chart.set_bins(calibration.get("bins_before") or [], calibration.get("bins") or [])
        status = str(calibration.get("status") or "")
        temperature = calibration.get("temperature")
        self.numbers.setText(
            f"Calibration error on these pictures: {calibration['ece_before']:.3f} before, "
            f"{calibration['ece_after']:.3f} after (0 is perfect). {calibration_words(temperature)}"
            + (f"\n⚠ {calibration['caveat']}" if calibration.get("caveat") else "")
        )
        # The numbers behind the words, for those who want them ("temperature 0.569").
        self.numbers.setToolTip(f"{status[:1].upper()}{status[1:]}.")


def calibration_words(temperature: float | None) -> str:
    """What calibration did, in words: the temperature itself stays in the tooltip."""
    if temperature is None or abs(float(temperature) - 1.0) < 0.02:
        return "The model's confidences were about right, so they were left as they were."
    if float(temperature) > 1.0:
        return "The model was over-confident: its confidences were lowered to match how often it is right."
    return "The model was under-confident: its confidences were raised to match how often it is right."
