"""The confusion matrix as a heat map: rows are the true classes, columns what the model said.

Readable from 2 to 50 classes: the cell size follows the space there is (within limits), the label
font follows the cell, column names turn vertical when they do not fit across, long names are
shortened (the tooltip gives them whole), and numbers are left out of cells too small to hold them
(the tooltip gives them). The colour is the share of the true class, in both the counts and the
percentage view, so that a small class's mistakes stand out as much as a large one's. Clicking a cell
emits `cell_clicked(true_index, predicted_index)`.

`paint_confusion` draws on any QPainter, so the HTML report gets the same picture (`render_image`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QMouseEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

MIN_CELL = 9  # pixels: below this 50 classes no longer fit a screen legibly, so the view scrolls
MAX_CELL = 88
MAX_LABEL_PX = 130  # longest class name shown before it is shortened (fewer pixels with many classes)


def max_label_px(k: int) -> int:
    return 130 if k <= 12 else 110 if k <= 25 else 90


CORRECT = QColor(43, 108, 176)  # blue: right answers
WRONG = QColor(214, 69, 48)  # red-orange: mistakes


@dataclass
class ConfusionColors:
    background: QColor
    text: QColor
    muted: QColor
    grid: QColor
    highlight: QColor

    @classmethod
    def from_palette(cls, palette: QPalette) -> ConfusionColors:
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        return cls(
            background=base,
            text=text,
            muted=_mix(base, text, 0.55),
            grid=_mix(base, text, 0.12),
            highlight=palette.color(QPalette.ColorRole.Highlight),
        )

    @classmethod
    def light(cls) -> ConfusionColors:
        return cls(QColor("white"), QColor(30, 30, 30), QColor(110, 110, 110), QColor(225, 225, 225), CORRECT)


@dataclass
class ConfusionLayout:
    grid: QRectF  # the K x K cells
    cell: float
    label_font: QFont
    number_font: QFont | None  # None: cells too small for numbers
    row_names: list[str]  # shortened to fit
    column_names: list[str]
    rotated: bool  # column names drawn vertically
    title_font: QFont

    def cell_at(self, pos: QPointF, k: int) -> tuple[int, int] | None:
        if not self.grid.contains(pos):
            return None
        col = int((pos.x() - self.grid.left()) // self.cell)
        row = int((pos.y() - self.grid.top()) // self.cell)
        if 0 <= row < k and 0 <= col < k:
            return row, col
        return None

    def cell_rect(self, row: int, col: int) -> QRectF:
        return QRectF(
            self.grid.left() + col * self.cell, self.grid.top() + row * self.cell, self.cell, self.cell
        )

    def row_label_at(self, pos: QPointF, k: int) -> int | None:
        if pos.x() < self.grid.left() and self.grid.top() <= pos.y() < self.grid.bottom():
            return min(k - 1, int((pos.y() - self.grid.top()) // self.cell))
        return None

    def column_label_at(self, pos: QPointF, k: int) -> int | None:
        if pos.y() < self.grid.top() and self.grid.left() <= pos.x() < self.grid.right():
            return min(k - 1, int((pos.x() - self.grid.left()) // self.cell))
        return None


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    t = min(1.0, max(0.0, t))
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


def _font(base: QFont, pixels: float, bold: bool = False) -> QFont:
    font = QFont(base)
    font.setPixelSize(max(6, round(pixels)))
    font.setBold(bold)
    return font


def compute_layout(rect: QRectF, names: list[str], base_font: QFont) -> ConfusionLayout:
    """Where everything goes for `names` (K classes) in `rect`."""
    k = max(1, len(names))
    title_font = _font(base_font, 12, bold=True)
    title_h = QFontMetrics(title_font).height() + 6

    limit = max_label_px(k)

    def attempt(label_px: float) -> tuple[ConfusionLayout, float]:
        font = _font(base_font, label_px)
        metrics = QFontMetrics(font)
        shown = [metrics.elidedText(n, Qt.TextElideMode.ElideRight, limit) for n in names]
        widest = max((metrics.horizontalAdvance(s) for s in shown), default=0)
        left = title_h + widest + 8
        # First try names across the top; if a name is wider than its column, turn them upright.
        top_flat = title_h + metrics.height() + 6
        cell_flat = min((rect.width() - left - 4) / k, (rect.height() - top_flat - 4) / k)
        rotated = widest + 6 > cell_flat
        top = title_h + (widest + 8 if rotated else metrics.height() + 6)
        cell = min((rect.width() - left - 4) / k, (rect.height() - top - 4) / k)
        cell = float(max(MIN_CELL, min(MAX_CELL, math.floor(cell))))
        grid_w = cell * k
        # Centre the whole drawing in the space left over.
        spare_x = max(0.0, rect.width() - left - grid_w - 4) / 2
        spare_y = min(12.0, max(0.0, rect.height() - top - grid_w - 4) / 2)  # top-aligned, near its toggles
        grid = QRectF(rect.left() + left + spare_x, rect.top() + top + spare_y, grid_w, grid_w)
        number_px = min(14.0, cell * 0.34)
        number_font = _font(base_font, number_px) if cell >= 17 else None
        layout = ConfusionLayout(grid, cell, font, number_font, shown, shown, rotated, title_font)
        return layout, cell

    layout, cell = attempt(12)
    # Labels as tall as a row (a little less), between 7 and 12 pixels.
    label_px = max(7.0, min(12.0, cell * 0.8))
    if label_px < 12:
        layout, _ = attempt(label_px)
    return layout


def _cell_text(count: int, share: float, normalized: bool) -> str:
    if count == 0:
        return ""
    if not normalized:
        return str(count)
    if share < 0.005:
        return "<1%"
    return f"{share * 100:.0f}%"


def cell_color(row: int, col: int, share: float, count: int, background: QColor) -> QColor:
    if count == 0:
        return background
    if row == col:
        return _mix(background, CORRECT, 0.12 + 0.88 * share)
    return _mix(background, WRONG, 0.18 + 0.82 * math.sqrt(share))


def _text_on(fill: QColor) -> QColor:
    luminance = 0.299 * fill.red() + 0.587 * fill.green() + 0.114 * fill.blue()
    return QColor("white") if luminance < 150 else QColor(25, 25, 25)


def paint_confusion(
    painter: QPainter,
    layout: ConfusionLayout,
    counts: np.ndarray,
    shares: np.ndarray,
    colors: ConfusionColors,
    *,
    normalized: bool,
    selected: tuple[int, int] | None = None,
    hover: tuple[int, int] | None = None,
) -> None:
    k = counts.shape[0]
    grid, cell = layout.grid, layout.cell
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    for r in range(k):
        for c in range(k):
            count, share = int(counts[r, c]), float(shares[r, c])
            fill = cell_color(r, c, share, count, colors.background)
            rect = layout.cell_rect(r, c)
            painter.fillRect(rect, fill)
            if layout.number_font is not None:
                text = _cell_text(count, share, normalized)
                if text:
                    painter.setFont(layout.number_font)
                    if QFontMetrics(layout.number_font).horizontalAdvance(text) <= cell - 2:
                        painter.setPen(_text_on(fill))
                        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    # Grid lines only while cells are big enough that they help more than they clutter.
    if cell >= 12:
        painter.setPen(QPen(colors.grid, 1))
        for i in range(k + 1):
            x = grid.left() + i * cell
            y = grid.top() + i * cell
            painter.drawLine(QPointF(x, grid.top()), QPointF(x, grid.bottom()))
            painter.drawLine(QPointF(grid.left(), y), QPointF(grid.right(), y))
    else:
        painter.setPen(QPen(colors.grid, 1))
        painter.drawRect(grid)
    if hover is not None:
        painter.setPen(QPen(colors.text, 1.5))
        painter.drawRect(layout.cell_rect(*hover).adjusted(0.5, 0.5, -0.5, -0.5))
    if selected is not None:
        painter.setPen(QPen(colors.highlight, 3 if cell >= 14 else 2))
        painter.drawRect(layout.cell_rect(*selected).adjusted(1, 1, -1, -1))

    # Class names: rows on the left, columns on top.
    painter.setFont(layout.label_font)
    metrics = QFontMetrics(layout.label_font)
    step = max(1, math.ceil(metrics.height() * 0.9 / cell))  # too many to fit: every step-th name
    hover_row = hover[0] if hover else (selected[0] if selected else None)
    hover_col = hover[1] if hover else (selected[1] if selected else None)
    for i in range(k):
        strong = i in (hover_row, hover_col)
        if i % step and not strong:
            continue
        bold_font = QFont(layout.label_font)
        bold_font.setBold(i == hover_row)
        painter.setFont(bold_font)
        painter.setPen(colors.text if i == hover_row else colors.muted)
        y = grid.top() + i * cell
        painter.drawText(
            QRectF(grid.left() - MAX_LABEL_PX - 8, y, MAX_LABEL_PX + 4, cell),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            layout.row_names[i],
        )
        bold_font.setBold(i == hover_col)
        painter.setFont(bold_font)
        painter.setPen(colors.text if i == hover_col else colors.muted)
        x = grid.left() + i * cell
        if layout.rotated:
            painter.save()
            painter.translate(x + cell / 2, grid.top() - 4)
            painter.rotate(-90)
            painter.drawText(
                QRectF(0, -metrics.height() / 2, MAX_LABEL_PX + 4, metrics.height()),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                layout.column_names[i],
            )
            painter.restore()
        else:
            painter.drawText(
                QRectF(x - 20, grid.top() - metrics.height() - 4, cell + 40, metrics.height()),
                Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
                layout.column_names[i],
            )

    # Axis titles.
    painter.setFont(layout.title_font)
    painter.setPen(colors.text)
    title_h = QFontMetrics(layout.title_font).height()
    top_labels = (
        max((metrics.horizontalAdvance(n) for n in layout.column_names), default=0) + 8
        if layout.rotated
        else metrics.height() + 6
    )
    painter.drawText(
        QRectF(grid.left(), grid.top() - top_labels - title_h - 4, grid.width(), title_h),
        Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
        "Predicted class",
    )
    left_labels = max((metrics.horizontalAdvance(n) for n in layout.row_names), default=0) + 8
    painter.save()
    painter.translate(grid.left() - left_labels - 6, grid.center().y())
    painter.rotate(-90)
    painter.drawText(
        QRectF(-grid.height() / 2, -title_h, grid.height(), title_h),
        Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
        "True class",
    )
    painter.restore()


def render_image(
    counts: np.ndarray,
    shares: np.ndarray,
    names: list[str],
    *,
    normalized: bool = False,
    size: QSize | None = None,
    font: QFont | None = None,
) -> QImage:
    """The matrix on white, for a report (dark-mode colours would look wrong on a printed page)."""
    k = max(1, len(names))
    side = max(360, min(1400, 160 + k * 40))
    size = size or QSize(side, side)
    image = QImage(size, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        layout = compute_layout(QRectF(8, 8, size.width() - 16, size.height() - 16), names, font or QFont())
        paint_confusion(painter, layout, counts, shares, ConfusionColors.light(), normalized=normalized)
    finally:
        painter.end()
    return image


class ConfusionMatrixView(QWidget):
    """The heat map of an EvaluationReport's confusion matrix; click a cell to see its pictures."""

    cell_clicked = Signal(int, int)  # true class index, predicted class index

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.names: list[str] = []
        self.counts = np.zeros((0, 0), np.int64)
        self.shares = np.zeros((0, 0), np.float64)
        self.normalized = False
        self.selected: tuple[int, int] | None = None
        self.hover: tuple[int, int] | None = None
        self.empty_text = "Evaluate a run to see which classes the model mixes up."
        self._layout: ConfusionLayout | None = None
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_matrix(self, counts: np.ndarray | None, names: list[str] | None) -> None:
        if counts is None or names is None:
            self.names, self.counts, self.shares = [], np.zeros((0, 0), np.int64), np.zeros((0, 0))
        else:
            self.names = list(names)
            self.counts = np.asarray(counts, dtype=np.int64)
            totals = self.counts.sum(axis=1, keepdims=True)
            self.shares = np.divide(
                self.counts, totals, out=np.zeros(self.counts.shape, np.float64), where=totals > 0
            )
        self.selected = None
        self.hover = None
        self._layout = None
        self.updateGeometry()
        self.update()

    def set_normalized(self, normalized: bool) -> None:
        self.normalized = bool(normalized)
        self.update()

    def select(self, row: int, col: int) -> None:
        """Select a cell as a click does (emits cell_clicked)."""
        self.selected = (row, col)
        self.update()
        self.cell_clicked.emit(row, col)

    def cell_center(self, row: int, col: int) -> QPoint:
        """Where a cell is on screen (tests click there)."""
        return self._current_layout().cell_rect(row, col).center().toPoint()

    def render_image(self, size: QSize | None = None) -> QImage:
        return render_image(
            self.counts, self.shares, self.names, normalized=self.normalized, size=size, font=self.font()
        )

    # ---- Qt ----------------------------------------------------------------------------------------
    def minimumSizeHint(self) -> QSize:
        k = len(self.names)
        if not k:
            return QSize(200, 160)
        side = 170 + k * MIN_CELL
        return QSize(side, side)

    def sizeHint(self) -> QSize:
        k = len(self.names)
        side = 200 + max(2, k) * 40
        return QSize(min(side, 900), min(side, 900))

    def resizeEvent(self, event) -> None:
        self._layout = None
        super().resizeEvent(event)

    def _current_layout(self) -> ConfusionLayout:
        if self._layout is None:
            self._layout = compute_layout(QRectF(self.rect()).adjusted(6, 6, -6, -6), self.names, self.font())
        return self._layout

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        colors = ConfusionColors.from_palette(self.palette())
        painter.fillRect(self.rect(), colors.background)
        if not self.names:
            painter.setPen(colors.muted)
            painter.drawText(
                self.rect().adjusted(20, 20, -20, -20),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self.empty_text,
            )
            return
        paint_confusion(
            painter,
            self._current_layout(),
            self.counts,
            self.shares,
            colors,
            normalized=self.normalized,
            selected=self.selected,
            hover=self.hover,
        )

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if not self.names:
            return
        layout = self._current_layout()
        pos = event.position()
        k = len(self.names)
        hover = layout.cell_at(pos, k)
        if hover != self.hover:
            self.hover = hover
            self.update()
        tip = ""
        if hover is not None:
            tip = self.cell_tooltip(*hover)
        else:
            i = layout.row_label_at(pos, k)
            j = layout.column_label_at(pos, k)
            if i is not None:
                tip = f"True class: {self.names[i]} ({int(self.counts[i].sum())} pictures)"
            elif j is not None:
                tip = f"Predicted class: {self.names[j]} ({int(self.counts[:, j].sum())} pictures)"
        if tip:
            QToolTip.showText(event.globalPosition().toPoint(), tip, self, QRect(), 10000)
        else:
            QToolTip.hideText()

    def leaveEvent(self, event) -> None:
        self.hover = None
        self.update()
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self.names:
            return
        cell = self._current_layout().cell_at(event.position(), len(self.names))
        if cell is not None:
            self.select(*cell)

    def cell_tooltip(self, row: int, col: int) -> str:
        true, predicted = self.names[row], self.names[col]
        count, share = int(self.counts[row, col]), float(self.shares[row, col])
        if row == col:
            head = f"{count} {true} pictures recognised correctly ({share:.1%} of them)"
        else:
            head = f"{count} {true} pictures taken for {predicted} ({share:.1%} of the {true} pictures)"
        return head + ("\nClick to see them." if count else "")
