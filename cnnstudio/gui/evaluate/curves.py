"""Training curves (loss and accuracy per epoch, training and validation) drawn into a QImage.

For the HTML report: drawn with QPainter on white, so it needs no plotting library and looks the
same on every machine. `rows` are core.runs.read_metrics() rows; only the per-epoch ones are used.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPainterPath, QPen

TRAIN = QColor(78, 121, 167)
VAL = QColor(242, 142, 43)
INK = QColor(40, 40, 40)
GRID = QColor(228, 228, 228)


def epoch_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("kind") == "epoch" and r.get("epoch") is not None]


def _nice_max(value: float) -> float:
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        top = step * 10**exponent
        if top >= value:
            return top
    return 10 ** (exponent + 1)


def _panel(
    painter: QPainter,
    rect: QRectF,
    title: str,
    epochs: list[int],
    series: list[tuple[str, QColor, list[float | None]]],
    y_max: float,
    percent: bool,
) -> None:
    font = QFont()
    font.setPixelSize(12)
    painter.setFont(font)
    metrics = QFontMetrics(font)
    painter.setPen(INK)
    bold = QFont(font)
    bold.setBold(True)
    painter.setFont(bold)
    painter.drawText(QRectF(rect.left(), rect.top(), rect.width(), 20), Qt.AlignmentFlag.AlignHCenter, title)
    painter.setFont(font)
    plot = QRectF(rect.left() + 48, rect.top() + 28, rect.width() - 60, rect.height() - 80)
    first, last = min(epochs), max(epochs)
    span = max(1, last - first)

    def point(epoch: int, value: float) -> QPointF:
        x = plot.left() + (epoch - first) / span * plot.width()
        y = plot.bottom() - min(1.0, max(0.0, value / y_max)) * plot.height()
        return QPointF(x, y)

    for i in range(5):
        value = y_max * i / 4
        y = plot.bottom() - plot.height() * i / 4
        painter.setPen(QPen(GRID, 1))
        painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        painter.setPen(INK)
        label = f"{value * 100:.0f}%" if percent else f"{value:.2g}"
        painter.drawText(
            QRectF(rect.left(), y - 8, 44, 16),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            label,
        )
    ticks = sorted({first, last, *range(first, last + 1, max(1, math.ceil(span / 8)))})
    for epoch in ticks:
        x = point(epoch, 0).x()
        painter.drawText(QRectF(x - 20, plot.bottom() + 4, 40, 16), Qt.AlignmentFlag.AlignHCenter, str(epoch))
    painter.drawText(
        QRectF(plot.left(), plot.bottom() + 20, plot.width(), 16), Qt.AlignmentFlag.AlignHCenter, "epoch"
    )
    painter.setPen(QPen(INK, 1))
    painter.drawLine(plot.bottomLeft(), plot.bottomRight())
    painter.drawLine(plot.bottomLeft(), plot.topLeft())

    legend_x = plot.left()
    legend_y = rect.bottom() - 14
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    for name, color, values in series:
        points = [
            point(e, v) for e, v in zip(epochs, values, strict=True) if v is not None and math.isfinite(v)
        ]
        if not points:
            continue
        path = QPainterPath(points[0])
        for p in points[1:]:
            path.lineTo(p)
        painter.setPen(QPen(color, 2))
        painter.drawPath(path)
        painter.setBrush(color)
        for p in points:
            painter.drawEllipse(p, 2.5, 2.5)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.fillRect(QRectF(legend_x, legend_y - 5, 14, 4), color)
        painter.setPen(INK)
        painter.drawText(QPointF(legend_x + 18, legend_y + 1), name)
        legend_x += 18 + metrics.horizontalAdvance(name) + 18
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)


def render_curves(rows: list[dict[str, Any]], size: QSize | None = None) -> QImage | None:
    """Two charts side by side (loss, accuracy), or None when the run has no finished epoch."""
    rows = epoch_rows(rows)
    if not rows:
        return None
    size = size or QSize(900, 320)
    image = QImage(size, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    epochs = [int(r["epoch"]) + 1 for r in rows]  # people count epochs from 1

    def column(key: str) -> list[float | None]:
        return [r.get(key) for r in rows]

    losses = [v for key in ("loss", "val_loss") for v in column(key) if v is not None and math.isfinite(v)]
    painter = QPainter(image)
    try:
        half = size.width() / 2
        _panel(
            painter,
            QRectF(0, 6, half - 6, size.height() - 12),
            "Loss (lower is better)",
            epochs,
            [("training", TRAIN, column("loss")), ("validation", VAL, column("val_loss"))],
            _nice_max(max(losses, default=1.0)),
            percent=False,
        )
        _panel(
            painter,
            QRectF(half + 6, 6, half - 12, size.height() - 12),
            "Accuracy (higher is better)",
            epochs,
            [("training", TRAIN, column("accuracy")), ("validation", VAL, column("val_accuracy"))],
            1.0,
            percent=True,
        )
    finally:
        painter.end()
    return image
