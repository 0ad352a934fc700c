"""The thumbnail grid: a QListView in wrapping list mode, every cell the same size, painted by a delegate.

Uniform sizes and no widget per item keep it smooth with 100,000 images: Qt lays out a grid by
arithmetic and paints only the visible cells. Keys: 1-9 give the selected images that class, 0 takes
their label away, Enter opens the large view.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QModelIndex, QPoint, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontMetrics, QKeyEvent, QPainter, QPalette, QPen, QPixmap, QStaticText
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from cnnstudio.gui.data.thumbnail_model import SAMPLE_ROLE, SUGGESTION_ROLE, THUMB_ROLE
from cnnstudio.gui.style import icon
from cnnstudio.gui.style.theme import error_color, muted_color

_PAD = 6


class ThumbnailDelegate(QStyledItemDelegate):
    """Thumbnail, file name, and a coloured chip with the class (or a red mark for an unusable file).

    Painting runs for every visible cell on every scroll step, in Python: the elided names and the
    class chips are cached (per font, palette and cell size), so a cell costs a few drawing calls.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cell = 112  # thumbnail side in pixels
        self.class_colors: dict[str, QColor] = {}
        self._broken = icon("problem")
        self._key = None
        self._names: dict[str, QStaticText] = {}
        self._chips: dict[tuple, QPixmap] = {}

    def set_cell(self, side: int) -> None:
        self.cell = side

    def set_class_colors(self, colors: dict[str, QColor]) -> None:
        self.class_colors = colors
        self._chips.clear()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        line = QFontMetrics(option.font).height()
        return QSize(self.cell + 2 * _PAD, self.cell + 2 * _PAD + 2 * line + 4)

    def _prepare(self, option: QStyleOptionViewItem) -> None:
        key = (option.font.key(), option.palette.cacheKey(), self.cell)
        if key != self._key:
            self._key = key
            self._fm = QFontMetrics(option.font)
            self._names.clear()
            self._chips.clear()
            palette = option.palette
            self._muted = muted_color(palette)
            self._error = error_color(palette)
            self._text = palette.color(QPalette.ColorRole.Text)
            self._selected_text = palette.color(QPalette.ColorRole.HighlightedText)
            self._highlight = palette.color(QPalette.ColorRole.Highlight)
            self._hover = palette.color(QPalette.ColorRole.AlternateBase)
            self._loading = palette.color(QPalette.ColorRole.Midlight)
        if len(self._names) > 20_000:
            self._names.clear()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        sample = index.data(SAMPLE_ROLE)
        if sample is None:
            return
        self._prepare(option)
        rect = option.rect.adjusted(2, 2, -2, -2)
        painter.save()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected or option.state & QStyle.StateFlag.State_MouseOver:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self._highlight if selected else self._hover)
            painter.drawRoundedRect(rect, 6, 6)

        box = QRect(rect.x() + (rect.width() - self.cell) // 2, rect.y() + _PAD - 2, self.cell, self.cell)
        image = index.data(THUMB_ROLE)
        if image is None:  # still loading
            painter.fillRect(box.adjusted(8, 8, -8, -8), self._loading)
        elif image.isNull():
            third = box.width() // 3
            self._broken.paint(painter, box.adjusted(third, third, -third, -third))
        else:
            target = _fit(image.width(), image.height(), box)
            # Small pictures (such as the 32-pixel digits) are enlarged with visible pixels: blurring
            # them would hide exactly the detail a person checks a label by.
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, image.width() >= target.width())
            painter.drawImage(target, image)
        suggestion = index.data(SUGGESTION_ROLE)
        if suggestion is not None:
            self._badge(painter, box, suggestion)

        fm = self._fm
        line = fm.height()
        name = self._names.get(sample.path)
        if name is None:  # laid out once: drawing a QStaticText skips text shaping
            name = QStaticText(
                fm.elidedText(os.path.basename(sample.path), Qt.TextElideMode.ElideMiddle, box.width())
            )
            name.setTextFormat(Qt.TextFormat.PlainText)
            name.prepare(font=option.font)
            self._names[sample.path] = name
        y = box.y() + box.height() + 4
        painter.setPen(self._selected_text if selected else self._text)
        painter.drawStaticText(box.x() + (box.width() - int(name.size().width())) // 2, y, name)
        chip = self._chip(sample, selected, box.width())
        painter.drawPixmap(
            box.x() + (box.width() - chip.width() // max(1, int(chip.devicePixelRatio()))) // 2,
            y + line + 2,
            chip,
        )
        painter.restore()

    def _badge(self, painter: QPainter, box: QRect, suggestion: tuple[str, float, bool]) -> None:
        """The run's suggestion over the thumbnail's top: "label 97%" in the class colour ("?" when unknown)."""
        label, confidence, unknown = suggestion
        text = f"{'? ' if unknown else ''}{label} {confidence:.0%}"
        fm = self._fm
        text = fm.elidedText(text, Qt.TextElideMode.ElideMiddle, box.width() - 10)
        rect = QRect(
            box.x() + 2, box.y() + 2, min(box.width() - 4, fm.horizontalAdvance(text) + 10), fm.height()
        )
        color = self.class_colors.get(label, self._muted)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(color, 1.2))
        painter.setBrush(QColor(0, 0, 0, 170))
        painter.drawRoundedRect(QRectF(rect), 4, 4)
        painter.setPen(QColor("white"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def _chip(self, sample, selected: bool, max_width: int) -> QPixmap:
        """The class chip, drawn once per class, state and size."""
        if sample.problem is not None:
            text, color, filled = "unusable", self._error, False
        elif sample.label is None:
            text, color, filled = "unlabelled", self._muted, False
        else:
            text, color, filled = sample.label, self.class_colors.get(sample.label, self._muted), True
        key = (text, color.rgba(), filled, selected, max_width)
        chip = self._chips.get(key)
        if chip is not None:
            return chip
        fm = self._fm
        text = fm.elidedText(text, Qt.TextElideMode.ElideRight, max_width - 14)
        width, height = min(max_width, fm.horizontalAdvance(text) + 14), fm.height()
        ratio = 2.0  # sharp on high-density screens, and costs nothing to draw on others
        chip = QPixmap(int(width * ratio), int(height * ratio))
        chip.setDevicePixelRatio(ratio)
        chip.fill(Qt.GlobalColor.transparent)
        p = QPainter(chip)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setFont(self.parent().font() if self.parent() is not None else p.font())
        p.setPen(QPen(color, 1.2))
        p.setBrush(_tint(color, 60) if filled else Qt.BrushStyle.NoBrush)
        area = QRectF(0.6, 0.6, width - 1.2, height - 1.2)
        p.drawRoundedRect(area, area.height() / 2, area.height() / 2)
        p.setPen(self._selected_text if selected else self._text)
        p.drawText(QRect(0, 0, width, height), Qt.AlignmentFlag.AlignCenter, text)
        p.end()
        self._chips[key] = chip
        return chip


def _fit(w: int, h: int, box: QRect) -> QRect:
    scale = min(box.width() / max(1, w), box.height() / max(1, h))
    tw, th = max(1, int(w * scale)), max(1, int(h * scale))
    return QRect(box.x() + (box.width() - tw) // 2, box.y() + (box.height() - th) // 2, tw, th)


def _tint(color: QColor, alpha: int) -> QColor:
    c = QColor(color)
    c.setAlpha(alpha)
    return c


class ThumbnailView(QListView):
    """Emits `label_key(n)` for keys 0-9 (dataset.keys says which class each labels) and `open_requested(row)` for Enter/double-click."""

    label_key = Signal(int)
    open_requested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.delegate = ThumbnailDelegate(self)
        self.setItemDelegate(self.delegate)
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        # Laying out 100,000 cells asks the model for its row count once per cell; in batches the
        # window stays responsive while it happens (measured: one 285 ms stall against many 20 ms ones).
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(4000)
        self.setMovement(QListView.Movement.Static)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setMouseTracking(True)
        self.setSpacing(2)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.enter_handler = None  # called with the row on Enter; returns True when it handled the key
        self.doubleClicked.connect(lambda index: self.open_requested.emit(index.row()))
        self._apply_cell()
        # The label a number key just gave, shown big over the grid for a moment.
        self.flash_label = QLabel(self.viewport())
        self.flash_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.flash_label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.flash_label.hide()
        self._flash_timer = QTimer(self, singleShot=True, interval=900)
        self._flash_timer.timeout.connect(self.flash_label.hide)

    def flash(self, text: str, color: QColor | None = None) -> None:
        """Show `text` big in the middle of the grid for under a second (the label just given)."""
        background = (color or QColor(60, 60, 60)).name()
        self.flash_label.setStyleSheet(
            f"background: {background}; color: white; font-size: 28px; font-weight: 600;"
            "border-radius: 10px; padding: 10px 22px;"
        )
        self.flash_label.setText(text)
        self.flash_label.adjustSize()
        area = self.viewport().rect()
        self.flash_label.move(area.center() - self.flash_label.rect().center())
        self.flash_label.show()
        self.flash_label.raise_()
        self._flash_timer.start()

    def setModel(self, model) -> None:  # noqa: N802 (Qt's name)
        super().setModel(model)
        if hasattr(model, "rows_changed"):
            model.rows_changed.connect(self.repaint_rows)

    def repaint_rows(self, rows: list[int]) -> None:
        """Repaint these cells if they are on screen (Qt merges the updates into one paint)."""
        model = self.model()
        area = self.viewport().rect()
        for row in rows:
            rect = self.visualRect(model.index(row, 0))
            if rect.intersects(area):
                self.viewport().update(rect)

    def set_cell_size(self, side: int) -> None:
        self.delegate.set_cell(side)
        self._apply_cell()

    def _apply_cell(self) -> None:
        hint = self.delegate.sizeHint(QStyleOptionViewItem(), QModelIndex())
        # Spread the columns over the whole width, so no strip is left empty on the right.
        # The scroll bar's width is always left free, so its appearing does not push a column over.
        width = max(1, self.width() - 2 * self.frameWidth() - self.verticalScrollBar().sizeHint().width() - 2)
        columns = max(1, width // (hint.width() + 4))
        self.setGridSize(QSize(width // columns, hint.height() + 4))
        self.verticalScrollBar().setSingleStep(max(16, hint.height() // 3))
        self.scheduleDelayedItemsLayout()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._apply_cell()

    def selected_rows(self) -> list[int]:
        return sorted(i.row() for i in self.selectionModel().selectedIndexes())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        plain = not (
            event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
        )
        if plain and Qt.Key.Key_0 <= key <= Qt.Key.Key_9:
            self.label_key.emit(key - Qt.Key.Key_0)
            event.accept()
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            if self.enter_handler is not None and self.enter_handler(self.currentIndex().row()):
                event.accept()
                return
            self.open_requested.emit(self.currentIndex().row())
            event.accept()
            return
        super().keyPressEvent(event)

    def select_row(self, row: int) -> None:
        """Make `row` the only selected image and scroll to it."""
        model = self.model()
        if model is None or model.rowCount() == 0:
            return
        row = max(0, min(row, model.rowCount() - 1))
        index = model.index(row, 0)
        self.setCurrentIndex(index)
        self.selectionModel().select(index, self.selectionModel().SelectionFlag.ClearAndSelect)
        self.scrollTo(index)

    def row_at(self, pos: QPoint) -> int:
        index = self.indexAt(pos)
        return index.row() if index.isValid() else -1
