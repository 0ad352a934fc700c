"""The class list: every class with its count and a bar, plus "All images", "Unlabelled" and "Unusable".

Selecting a row filters the grid. Images dropped on a class get that label (a real drop: the view's
own drop handling calls `ClassListModel.dropMimeData`). The first nine classes show the number key
that labels with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from cnnstudio.gui.data.keys import class_keys
from cnnstudio.gui.data.thumbnail_model import (
    ALL,
    CLASS,
    PATHS_MIME,
    PROBLEMS,
    UNLABELLED,
    paths_from_mime,
)
from cnnstudio.gui.style import class_color, icon, muted_color, warning_color

ROW_ROLE = Qt.ItemDataRole.UserRole + 10


@dataclass
class ClassRow:
    kind: str  # ALL, UNLABELLED, PROBLEMS or CLASS
    name: str
    count: int
    shortcut: int | None = None  # its number key (dataset.keys)
    color: QColor | None = None
    warning: str | None = None


class ClassListModel(QAbstractListModel):
    images_dropped = Signal(list, object)  # paths, label (None: unlabel)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[ClassRow] = []
        self.max_count = 1

    def set_rows(self, rows: list[ClassRow]) -> None:
        same_shape = [(r.kind, r.name) for r in rows] == [(r.kind, r.name) for r in self.rows]
        if same_shape:  # counts only: keep the selection, just redraw
            self.rows = rows
            self._update_max()
            if rows:
                self.dataChanged.emit(self.index(0), self.index(len(rows) - 1))
            return
        self.beginResetModel()
        self.rows = rows
        self._update_max()
        self.endResetModel()

    def _update_max(self) -> None:
        self.max_count = max([r.count for r in self.rows if r.kind == CLASS] or [1]) or 1

    def row_of(self, kind: str, name: str | None = None) -> int:
        for i, r in enumerate(self.rows):
            if r.kind == kind and (kind != CLASS or r.name == name):
                return i
        return -1

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.DisplayRole:
            return row.name
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"{row.name}: {row.count} image" + ("" if row.count == 1 else "s")
            if row.shortcut is not None:
                tip += f"\nPress {row.shortcut} in the grid to give the selected images this class."
            if row.kind in (CLASS, UNLABELLED):
                tip += (
                    "\nDrop images here to label them."
                    if row.kind == CLASS
                    else "\nDrop images here to unlabel them."
                )
            if row.warning:
                tip += f"\n\n{row.warning}"
            return tip
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if self.rows[index.row()].kind in (CLASS, UNLABELLED):
            flags |= Qt.ItemFlag.ItemIsDropEnabled
        return flags

    # ---- drops ------------------------------------------------------------------------------------
    def mimeTypes(self) -> list[str]:
        return [PATHS_MIME]

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction | Qt.DropAction.MoveAction

    def canDropMimeData(self, data: QMimeData, action, row: int, column: int, parent) -> bool:
        return data.hasFormat(PATHS_MIME) and self._target(row, parent) is not None

    def dropMimeData(self, data: QMimeData, action, row: int, column: int, parent) -> bool:
        target = self._target(row, parent)
        paths = paths_from_mime(data)
        if target is None or not paths:
            return False
        self.images_dropped.emit(paths, target.name if target.kind == CLASS else None)
        return True  # a copy action: the grid keeps its items, only their labels change

    def _target(self, row: int, parent) -> ClassRow | None:
        # Only a drop onto a row counts (parent valid); between rows means nothing here.
        if parent is None or not parent.isValid():
            return None
        target = self.rows[parent.row()]
        return target if target.kind in (CLASS, UNLABELLED) else None


class ClassDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        fm = QFontMetrics(option.font)
        return QSize(200, fm.height() + 16)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        row: ClassRow = index.data(ROW_ROLE)
        model: ClassListModel = index.model()
        palette = option.palette
        rect = option.rect
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        drop_target = bool(option.state & QStyle.StateFlag.State_MouseOver) and row.kind == CLASS
        if selected:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(rect.adjusted(2, 1, -2, -1), 5, 5)
        elif drop_target:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.AlternateBase))
            painter.drawRoundedRect(rect.adjusted(2, 1, -2, -1), 5, 5)
        fm = QFontMetrics(option.font)
        text_color = palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        muted = text_color if selected else muted_color(palette)
        x = rect.x() + 8
        mid = rect.y() + (rect.height() - fm.height()) // 2 - 2

        # Left: the number key, or an icon for the special rows.
        badge = QRect(x, rect.y() + (rect.height() - 18) // 2 - 2, 18, 18)
        if row.kind == CLASS:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(row.color or muted)
            painter.drawRoundedRect(badge, 4, 4)
            if row.shortcut is not None:
                painter.setPen(QColor("white"))
                painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, str(row.shortcut))
        else:
            name = {ALL: "all-images", UNLABELLED: "unlabelled", PROBLEMS: "problem"}[row.kind]
            icon(name, muted).paint(painter, badge)
        x = badge.right() + 8

        count_text = f"{row.count:,}"
        count_w = fm.horizontalAdvance(count_text)
        right = rect.right() - 8
        warn_w = 0
        if row.warning:
            warn_w = 18
            icon("warning", warning_color(palette)).paint(painter, QRect(right - count_w - 22, mid, 16, 16))
        name_w = right - x - count_w - 8 - warn_w
        painter.setPen(text_color)
        painter.drawText(
            QRect(x, mid, name_w, fm.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            fm.elidedText(row.name, Qt.TextElideMode.ElideRight, name_w),
        )
        painter.setPen(muted)
        painter.drawText(
            QRect(right - count_w, mid, count_w, fm.height()), Qt.AlignmentFlag.AlignRight, count_text
        )

        if row.kind == CLASS:  # the bar: this class's share of the largest class
            bar = QRect(x, mid + fm.height() + 3, right - x, 4)
            painter.setPen(Qt.PenStyle.NoPen)
            track = QColor(muted)
            track.setAlpha(50)
            painter.setBrush(track)
            painter.drawRoundedRect(bar, 2, 2)
            filled = QRect(bar)
            filled.setWidth(max(0, int(bar.width() * row.count / max(1, model.max_count))))
            painter.setBrush(row.color or muted)
            if filled.width():
                painter.drawRoundedRect(filled, 2, 2)
        painter.restore()


class ClassListView(QListView):
    """Accepts image drops onto a class row; emits `row_selected(row)` when the selection moves."""

    row_selected = Signal(object)  # ClassRow

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setItemDelegate(ClassDelegate(self))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setDragDropOverwriteMode(True)  # drop onto a row, not between rows
        self.setDropIndicatorShown(True)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setAcceptDrops(True)
        self.setMouseTracking(True)
        self.setUniformItemSizes(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setFrameShape(QListView.Shape.NoFrame)

    def setModel(self, model) -> None:  # noqa: N802 (Qt's name)
        super().setModel(model)
        self.selectionModel().currentChanged.connect(self._current_changed)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.row_selected.emit(current.data(ROW_ROLE))

    def current_row(self) -> ClassRow | None:
        index = self.currentIndex()
        return index.data(ROW_ROLE) if index.isValid() else None

    def select(self, row: int) -> None:
        if 0 <= row < self.model().rowCount():
            self.setCurrentIndex(self.model().index(row, 0))


def build_rows(
    counts: dict[str, int], total: int, unlabelled: int, problems: int, warnings: dict[str, str]
) -> list[ClassRow]:
    rows = [ClassRow(ALL, "All images", total), ClassRow(UNLABELLED, "Unlabelled", unlabelled)]
    if problems:
        rows.append(ClassRow(PROBLEMS, "Unusable files", problems))
    keys = class_keys(list(counts))
    for i, (name, count) in enumerate(counts.items()):
        rows.append(
            ClassRow(
                CLASS,
                name,
                count,
                shortcut=next((k for k, c in keys.items() if c == name), None),
                color=class_color(i),
                warning=warnings.get(name),
            )
        )
    return rows
