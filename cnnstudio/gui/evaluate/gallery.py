"""A grid of pictures from an evaluation: thumbnail, what it is and what the model said, and how sure.

Used for the pictures of a confusion-matrix cell (sorted by confidence) and for the top losses.
Thumbnails come from the dataset browser's loader (threads, disk cache); small pictures are enlarged
with visible pixels, as in the image viewer.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QAbstractListModel, QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from cnnstudio.gui.evaluate.confusion import CORRECT, WRONG
from cnnstudio.gui.thumbnails import ThumbnailLoader

ITEM_ROLE = Qt.ItemDataRole.UserRole + 1
THUMB = 96
CELL = QSize(THUMB + 28, THUMB + 50)


@dataclass(frozen=True)
class GalleryItem:
    index: int  # the picture's row in the EvaluationReport
    path: str
    label: str  # the given class
    predicted: str
    confidence: float  # probability of the predicted class
    note: str = ""  # a third line (the loss, ...)

    @property
    def correct(self) -> bool:
        return self.label == self.predicted


class GalleryModel(QAbstractListModel):
    def __init__(self, loader: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.loader = loader
        self.items: list[GalleryItem] = []
        self._row_of: dict[str, list[int]] = {}
        loader.loaded.connect(self._loaded)

    def set_items(self, items: list[GalleryItem]) -> None:
        self.beginResetModel()
        self.items = list(items)
        self._row_of = {}
        for row, item in enumerate(self.items):
            self._row_of.setdefault(item.path, []).append(row)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 (Qt's name)
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        item = self.items[index.row()]
        if role == ITEM_ROLE:
            return item
        if role == Qt.ItemDataRole.DisplayRole:
            return item.path.rsplit("/", 1)[-1]
        if role == Qt.ItemDataRole.ToolTipRole:
            verdict = "right" if item.correct else "wrong"
            return (
                f"{item.path}\nLabelled {item.label}; the model says {item.predicted} "
                f"({item.confidence:.1%} sure), {verdict}." + (f"\n{item.note}" if item.note else "")
            )
        if role == Qt.ItemDataRole.DecorationRole:
            return self.loader.get(item.path)
        return None

    def paths(self) -> list[str]:
        return [item.path for item in self.items]

    def _loaded(self, paths: list[str]) -> None:
        rows = [r for p in paths for r in self._row_of.get(p, ())]
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)))


def fit_rect(w: int, h: int, box: QRect) -> QRect:
    """The largest rectangle of w:h inside box, centred; small images grow by whole steps."""
    if w <= 0 or h <= 0:
        return box
    scale = min(box.width() / w, box.height() / h)
    if scale > 1:
        scale = max(1, int(scale))
    tw, th = max(1, int(w * scale)), max(1, int(h * scale))
    return QRect(box.x() + (box.width() - tw) // 2, box.y() + (box.height() - th) // 2, tw, th)


class GalleryDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return CELL

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        item: GalleryItem = index.data(ITEM_ROLE)
        image: QImage | None = index.data(Qt.ItemDataRole.DecorationRole)
        rect = option.rect.adjusted(3, 3, -3, -3)
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.save()
        if selected:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Highlight))
        box = QRect(rect.x() + 8, rect.y() + 6, rect.width() - 16, THUMB)
        if image is not None and not image.isNull():
            target = fit_rect(image.width(), image.height(), box)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, target.width() < image.width())
            painter.drawImage(target, image)
        else:
            painter.fillRect(box, palette.color(QPalette.ColorRole.AlternateBase))
        # A coloured bar under the picture: blue right, red wrong.
        mark = CORRECT if item.correct else WRONG
        painter.fillRect(QRect(box.x(), box.bottom() + 3, box.width(), 3), mark)
        text_color = palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        font = option.font
        metrics = QFontMetrics(font)
        line = metrics.height()
        top = box.bottom() + 8
        painter.setFont(font)
        painter.setPen(text_color)
        said = item.predicted if item.correct else f"{item.label} → {item.predicted}"
        painter.drawText(
            QRect(rect.x() + 2, top, rect.width() - 4, line),
            Qt.AlignmentFlag.AlignHCenter,
            metrics.elidedText(said, Qt.TextElideMode.ElideMiddle, rect.width() - 4),
        )
        sure = f"{item.confidence:.0%} sure"
        painter.setPen(
            text_color if selected else QColor(mark).darker(110) if not item.correct else text_color
        )
        painter.drawText(
            QRect(rect.x() + 2, top + line, rect.width() - 4, line), Qt.AlignmentFlag.AlignHCenter, sure
        )
        painter.restore()


class GalleryView(QListView):
    """Emits `picture_chosen(report_index)` when the current picture changes."""

    picture_chosen = Signal(int)

    def __init__(self, loader: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.gallery = GalleryModel(loader, self)
        self.setModel(self.gallery)
        self.setItemDelegate(GalleryDelegate(self))
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setGridSize(CELL)
        self.setSpacing(0)
        self.setWordWrap(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.selectionModel().currentChanged.connect(self._current_changed)

    def set_items(self, items: list[GalleryItem]) -> None:
        self.gallery.set_items(items)
        if items:
            self.setCurrentIndex(self.gallery.index(0))

    def items(self) -> list[GalleryItem]:
        return list(self.gallery.items)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.picture_chosen.emit(self.gallery.items[current.row()].index)
