"""The palette: every layer type, grouped, each with its icon and one line in plain words.

Drag an entry onto the model (a real QDrag carrying the layer's config as MIME_LAYER), or
double-click it to add it below the selected layer. The pre-trained networks are listed one by
one, each saying whether its ImageNet weights are on this computer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QByteArray, QMimeData, QPoint, Qt, Signal
from PySide6.QtGui import QDrag, QMouseEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.spec import BACKBONES, LAYER_TYPES
from cnnstudio.core.spec.backbones import weights_origin
from cnnstudio.gui.model.card import layer_icon_name
from cnnstudio.gui.style import icon, muted_color

MIME_LAYER = "application/x-cnnstudio-layer"  # a new layer: its config as JSON
CATEGORY_ORDER = ("Convolution", "Pooling", "Core", "Regularisation", "Pre-trained")


def layer_mime(config: dict[str, Any]) -> QMimeData:
    """The drag data of a palette entry: a layer config such as {"type": "Conv2D"}."""
    mime = QMimeData()
    mime.setData(MIME_LAYER, QByteArray(json.dumps(config).encode("utf-8")))
    mime.setText(config.get("type", ""))
    return mime


def config_from_mime(mime: QMimeData) -> dict[str, Any] | None:
    if not mime.hasFormat(MIME_LAYER):
        return None
    try:
        config = json.loads(bytes(mime.data(MIME_LAYER).data()).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return config if isinstance(config, dict) and config.get("type") in LAYER_TYPES else None


@dataclass(frozen=True)
class PaletteEntry:
    title: str
    category: str
    description: str
    config: dict[str, Any]
    icon: str


def palette_entries() -> list[PaletteEntry]:
    """Every entry, in CATEGORY_ORDER; the Input is not offered (a design has exactly one)."""
    entries: list[PaletteEntry] = []
    for category in CATEGORY_ORDER:
        for name, cls in LAYER_TYPES.items():
            if cls.category != category or name == "Input":
                continue
            if name == "Backbone":
                for arch, info in BACKBONES.items():
                    origin = weights_origin(arch)
                    status = {
                        "pre-trained on ImageNet": "ImageNet weights on this computer",
                        "random weights": "no ImageNet weights on this computer yet",
                    }.get(origin, f"weights {origin}")
                    entries.append(
                        PaletteEntry(
                            info.title,
                            category,
                            f"{cls.description} ({status}.)",
                            {"type": "Backbone", "arch": arch},
                            layer_icon_name(name),
                        )
                    )
            else:
                entries.append(
                    PaletteEntry(name, category, cls.description, {"type": name}, layer_icon_name(name))
                )
    return entries


class PaletteItem(QFrame):
    """One entry; pressing and moving starts the drag."""

    activated = Signal(dict)

    def __init__(self, entry: PaletteEntry, parent: QWidget | None = None):
        super().__init__(parent)
        self.entry = entry
        self.setObjectName("PaletteItem")
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setToolTip(
            f"<b>{entry.title}</b><br>{entry.description}<br><i>Drag it onto the model, or double-click.</i>"
        )
        self._press: QPoint | None = None
        picture = QLabel(self)
        picture.setPixmap(icon(entry.icon).pixmap(24, 24))
        picture.setFixedSize(26, 26)
        picture.setAlignment(Qt.AlignmentFlag.AlignTop)
        title = QLabel(f"<b>{entry.title}</b>", self)
        text = QLabel(entry.description, self)
        text.setWordWrap(True)
        text.setStyleSheet(f"color:{muted_color().name()}; font-size:small")
        text.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        column = QVBoxLayout()
        column.setSpacing(1)
        column.addWidget(title)
        column.addWidget(text)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 5, 6, 5)
        row.addWidget(picture, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(column, 1)
        # The whole entry drags: the labels (a rich-text label takes the mouse for its links) pass
        # presses and moves on to the entry.
        for label in (picture, title, text):
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet(
            "#PaletteItem { border-radius:5px; } #PaletteItem:hover { background: palette(midlight); }"
        )

    def mime_data(self) -> QMimeData:
        return layer_mime(self.entry.config)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if (
            self._press is not None
            and event.buttons() & Qt.MouseButton.LeftButton
            and (event.position().toPoint() - self._press).manhattanLength()
            >= QApplication.startDragDistance()
        ):
            press, self._press = self._press, None
            drag = QDrag(self)
            drag.setMimeData(self.mime_data())
            drag.setPixmap(self.grab())
            drag.setHotSpot(press)
            drag.exec(Qt.DropAction.CopyAction)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._press = None
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.activated.emit(dict(self.entry.config))


class LayerPalette(QWidget):
    """The palette with a search field. `layer_activated(config)`: an entry was double-clicked."""

    layer_activated = Signal(dict)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search layers")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.items: list[PaletteItem] = []
        self.headers: dict[str, QLabel] = {}
        inner = QWidget()
        column = QVBoxLayout(inner)
        column.setContentsMargins(4, 4, 4, 4)
        column.setSpacing(2)
        for entry in palette_entries():
            if entry.category not in self.headers:
                header = QLabel(entry.category.upper(), inner)
                header.setStyleSheet(
                    f"color:{muted_color().name()}; font-weight:bold; font-size:small; padding-top:8px"
                )
                self.headers[entry.category] = header
                column.addWidget(header)
            item = PaletteItem(entry, inner)
            item.activated.connect(self.layer_activated)
            item.activated.connect(lambda _config, title=entry.title: self._added(title))
            self.items.append(item)
            column.addWidget(item)
        column.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidget(inner)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        title = QLabel("<b>Layers</b>", self)
        hint = QLabel(
            "Drag a layer onto the model, or double-click it to add it below the chosen layer.", self
        )
        hint.setWordWrap(True)
        hint.setStyleSheet(f"color:{muted_color().name()}")
        self.hint = hint
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(title)
        layout.addWidget(hint)
        layout.addWidget(self.search)
        layout.addWidget(scroll, 1)

    def _added(self, title: str) -> None:
        """Double-click added a layer: say so where the user is looking."""
        self.hint.setText(f"Added {title} to the model. Drag a layer, or double-click another.")

    def item(self, title: str) -> PaletteItem:
        """The entry called `title` ("Conv2D", "ResNet-18", ...)."""
        for item in self.items:
            if item.entry.title == title:
                return item
        raise KeyError(title)

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        shown: set[str] = set()
        for item in self.items:
            haystack = f"{item.entry.title} {item.entry.category} {item.entry.description}".lower()
            visible = all(word in haystack for word in words)
            item.setVisible(visible)
            if visible:
                shown.add(item.entry.category)
        for category, header in self.headers.items():
            header.setVisible(category in shown)
