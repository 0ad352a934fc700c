"""The model as a vertical stack of layer cards, and the drop target of the designer.

Drops: a palette entry (MIME_LAYER) is inserted where it is dropped; a card (MIME_MOVE) moves
there. While dragging, a line shows where the layer will go. Nothing can go above the Input.
Keys: Delete removes the selected layer, Ctrl+D duplicates it, Alt+Up/Down moves it, Up/Down
selects. The view changes the design only through its DesignDocument.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeyEvent, QPalette
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec import Layer
from cnnstudio.gui.model.card import MIME_MOVE, LayerCard, is_frozen, unlocked
from cnnstudio.gui.model.document import DesignDocument
from cnnstudio.gui.model.palette import config_from_mime
from cnnstudio.gui.style import muted_color

CARD_SPACING = 10


class LayerStackView(QWidget):
    selection_changed = Signal(int)  # the selected layer's index (-1: none)
    problem = Signal(str)  # an edit that cannot be made, in plain words
    get_weights_requested = Signal(int)  # the Backbone at this index wants its ImageNet weights

    def __init__(self, document: DesignDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.cards: list[LayerCard] = []
        self.selected = -1
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self._column = QVBoxLayout(self)
        self._column.setContentsMargins(16, 12, 16, 12)
        self._column.setSpacing(CARD_SPACING)
        self.hint = QLabel("Drag layers here from the palette; drag a card to move it.", self)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet(f"color:{muted_color().name()}; padding:12px")
        self._column.addWidget(self.hint)
        self._column.addStretch(1)
        self.indicator = QFrame(self)
        self.indicator.setFixedHeight(4)
        self.indicator.setStyleSheet(
            f"background:{self.palette().color(QPalette.ColorRole.Highlight).name()}; border-radius:2px"
        )
        self.indicator.hide()
        self.drop_index: int | None = None
        document.report_changed.connect(self._refresh)  # follows every change of the spec
        self._refresh()

    # ---- cards ---------------------------------------------------------------------------------
    def _refresh(self, *_args) -> None:
        spec, report = self.document.spec, self.document.report
        layers = spec.layers
        while len(self.cards) < len(layers):
            card = LayerCard(self)
            card.clicked.connect(self.select)
            card.lock_toggled.connect(self.toggle_lock)
            card.duplicate_requested.connect(self.duplicate)
            card.delete_requested.connect(self.delete)
            card.get_weights_requested.connect(self.get_weights_requested)
            self._column.insertWidget(len(self.cards), card)
            self.cards.append(card)
        while len(self.cards) > len(layers):
            card = self.cards.pop()
            self._column.removeWidget(card)
            card.hide()
            card.deleteLater()  # later: it may be the source of the drag that removed it
        for index, (card, layer, info) in enumerate(zip(self.cards, layers, report.layers, strict=True)):
            card.set_layer(index, layer, info, self.document.num_classes, self.document.classes_known)
        if self.selected >= len(layers):
            self.select(len(layers) - 1)
        else:
            self._show_selection()

    def card(self, index: int) -> LayerCard:
        return self.cards[index]

    def select(self, index: int, scroll: bool = True) -> None:
        index = max(-1, min(index, len(self.cards) - 1))
        changed = index != self.selected
        self.selected = index
        self._show_selection()
        if index >= 0:
            if scroll:
                self._scroll_to(self.cards[index])
            self.setFocus(Qt.FocusReason.OtherFocusReason)
        if changed:
            self.selection_changed.emit(index)

    def _show_selection(self) -> None:
        for i, card in enumerate(self.cards):
            card.set_selected(i == self.selected)

    def _scroll_area(self) -> QScrollArea | None:
        parent = self.parentWidget()
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        return parent

    def _scroll_to(self, widget: QWidget) -> None:
        area = self._scroll_area()
        if area is not None:
            area.ensureWidgetVisible(widget, 0, 20)

    # ---- edits ---------------------------------------------------------------------------------
    def _edit(self, action) -> bool:
        try:
            action()
        except UserError as exc:
            self.problem.emit(str(exc))
            return False
        return True

    def delete(self, index: int | None = None) -> None:
        index = self.selected if index is None else index
        if index < 0:
            return
        if self._edit(lambda: self.document.remove_layer(index)):
            self.select(min(index, len(self.document.spec.layers) - 1))

    def duplicate(self, index: int | None = None) -> None:
        index = self.selected if index is None else index
        if index >= 0 and self._edit(lambda: self.document.duplicate_layer(index)):
            self.select(index + 1)

    def toggle_lock(self, index: int) -> None:
        """The card's lock: frozen layers are unlocked, others get `trainable=False`."""
        layer = self.document.spec.layers[index]
        if is_frozen(layer):
            self.document.replace_layer(index, unlocked(layer), f"Unlock {layer.type}")
        else:
            self.document.replace_layer(index, layer.replace(trainable=False), f"Lock {layer.type}")

    def move(self, index: int, new_index: int) -> None:
        """Move the layer at `index` so that it ends up at `new_index` (after the move)."""
        if new_index != index and self._edit(lambda: self.document.move_layer(index, new_index)):
            self.select(new_index)

    def insert(self, index: int, layer: Layer) -> None:
        if self._edit(lambda: self.document.insert_layer(index, layer)):
            self.select(index)

    # ---- drops ---------------------------------------------------------------------------------
    def insertion_index(self, pos: QPoint) -> int:
        """Where a layer dropped at `pos` goes: before the first card whose middle is below it.
        Never above the Input (index 0)."""
        y = pos.y()
        for index, card in enumerate(self.cards):
            if y < card.geometry().center().y():
                return max(1, index)
        return max(1, len(self.cards))

    def _accepts(self, event) -> bool:
        mime = event.mimeData()
        return mime.hasFormat(MIME_MOVE) or config_from_mime(mime) is not None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._accepts(event):
            event.acceptProposedAction()
            self._show_indicator(self.insertion_index(event.position().toPoint()))
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if not self._accepts(event):
            event.ignore()
            return
        pos = event.position().toPoint()
        event.acceptProposedAction()
        self._show_indicator(self.insertion_index(pos))
        area = self._scroll_area()
        if area is not None:  # scroll while dragging near the top or bottom edge
            area.ensureVisible(pos.x(), pos.y(), 0, 40)

    def dragLeaveEvent(self, event) -> None:
        self._hide_indicator()

    def dropEvent(self, event: QDropEvent) -> None:
        index = self.insertion_index(event.position().toPoint())
        self._hide_indicator()
        mime = event.mimeData()
        if mime.hasFormat(MIME_MOVE):
            try:
                source = int(bytes(mime.data(MIME_MOVE).data()).decode())
            except ValueError:
                event.ignore()
                return
            event.setDropAction(Qt.DropAction.MoveAction)
            event.accept()
            # `index` counts positions before the move; after taking the card out, later ones shift up.
            self.move(source, index - 1 if index > source else index)
            return
        config = config_from_mime(mime)
        if config is None:
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        try:
            layer = Layer.from_config(config)
        except (UserError, TypeError) as exc:
            self.problem.emit(str(exc))
            return
        self.insert(index, layer)

    def _show_indicator(self, index: int) -> None:
        self.drop_index = index
        if not self.cards:
            return
        if index < len(self.cards):
            y = self.cards[index].geometry().top() - CARD_SPACING // 2
        else:
            y = self.cards[-1].geometry().bottom() + CARD_SPACING // 2
        margins = self._column.contentsMargins()
        self.indicator.setGeometry(margins.left(), y - 2, self.width() - margins.left() - margins.right(), 4)
        self.indicator.show()
        self.indicator.raise_()

    def _hide_indicator(self) -> None:
        self.drop_index = None
        self.indicator.hide()

    # ---- keys ----------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and not mods:
            self.delete()
        elif key == Qt.Key.Key_D and mods == Qt.KeyboardModifier.ControlModifier:
            self.duplicate()
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and mods == Qt.KeyboardModifier.AltModifier:
            step = -1 if key == Qt.Key.Key_Up else 1
            target = self.selected + step
            if self.selected > 0 and 1 <= target < len(self.cards):
                self.move(self.selected, target)
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and not mods:
            self.select(max(0, self.selected + (-1 if key == Qt.Key.Key_Up else 1)))
        else:
            super().keyPressEvent(event)
