"""One layer of the design as a card: what it is, its settings, its output shape and parameters,
a lock for `trainable`, and its problem in red when it has one. Cards are dragged to reorder."""

from __future__ import annotations

import re

from PySide6.QtCore import QByteArray, QMimeData, QPoint, Qt, Signal
from PySide6.QtGui import QColor, QDrag, QGuiApplication, QMouseEvent, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.spec import BACKBONES, Backbone, Layer, LayerInfo
from cnnstudio.core.spec.backbones import weights_origin
from cnnstudio.core.spec.layer_base import describe_shape, keras_name
from cnnstudio.core.spec.shapes import pair
from cnnstudio.gui.style import icon, muted_color
from cnnstudio.gui.style.theme import error_color, warning_color
from cnnstudio.gui.widgets.fold import WrappedLabel

MIME_MOVE = "application/x-cnnstudio-layer-move"  # a card being dragged: its index in the design


def move_mime(index: int) -> QMimeData:
    """The drag data of the card at `index` (what a card's drag carries)."""
    mime = QMimeData()
    mime.setData(MIME_MOVE, QByteArray(str(index).encode()))
    return mime


def layer_icon_name(type_name: str) -> str:
    return f"layers/{keras_name(type_name)}"


def _size_text(value) -> str:
    height, width = pair(value)
    return f"{height}×{width}"


def describe_settings(layer: Layer, num_classes: int, classes_known: bool = True) -> str:
    """The settings that matter, in a few words: "32 filters 3×3, relu"."""
    kind = layer.type
    parts: list[str] = []
    if kind == "Input":
        colour = "colour" if layer.channels == 3 else "grey"
        fit = {"stretch": "stretched", "crop": "cropped", "pad": "padded"}.get(layer.fit, str(layer.fit))
        parts = [f"{layer.height}×{layer.width} pixels", colour, fit]
    elif kind == "Conv2D":
        parts = [f"{layer.filters} filters {_size_text(layer.kernel_size)}"]
        if pair(layer.strides) != (1, 1):
            parts.append(f"step {_size_text(layer.strides)}")
        if layer.padding == "same":
            parts.append("same padding")
        if layer.activation:
            parts.append(layer.activation)
    elif kind in ("MaxPooling2D", "AveragePooling2D"):
        parts = [_size_text(layer.pool_size)]
        if layer.strides is not None:
            parts.append(f"step {_size_text(layer.strides)}")
        if layer.padding == "same":
            parts.append("same padding")
    elif kind == "GlobalAveragePooling2D":
        parts = ["one number per channel"]
    elif kind == "Flatten":
        parts = ["everything in one list"]
    elif kind == "Dense":
        if layer.units == "auto":
            source = "" if classes_known else ", until a dataset is open"
            parts = [f"auto: one output per class ({num_classes}{source})"]
        else:
            parts = [f"{layer.units:,} outputs" if isinstance(layer.units, int) else str(layer.units)]
        if layer.activation:
            parts.append(layer.activation)
    elif kind == "Dropout":
        parts = [
            f"switches off {layer.rate:.0%} while training"
            if isinstance(layer.rate, int | float)
            else str(layer.rate)
        ]
    elif kind == "BatchNormalization":
        parts = [f"momentum {layer.momentum:g}" if isinstance(layer.momentum, int | float) else ""]
    elif kind == "Activation":
        parts = [str(layer.activation)]
    elif isinstance(layer, Backbone):
        info = BACKBONES.get(layer.arch)
        parts = [info.title if info else str(layer.arch), _weights_text(layer)]
        if not layer.trainable or layer.train_blocks == 0:
            parts.append("frozen")
        elif info is not None:
            parts.append(f"last {layer.train_blocks} of {len(info.blocks)} blocks train")
    if getattr(layer, "l1", 0) or getattr(layer, "l2", 0):
        parts.append(
            "penalty "
            + " ".join(f"{k.upper()} {getattr(layer, k):g}" for k in ("l1", "l2") if getattr(layer, k))
        )
    return ", ".join(p for p in parts if p)


def _weights_text(layer: Backbone) -> str:
    if layer.weights == "random":
        return "random weights"
    if layer.weights == "imagenet":  # "imported from FILE" when the user imported their own file
        return weights_origin(layer.arch) if layer.arch in BACKBONES else "random weights"
    return f"weights from {layer.weights.replace(chr(92), '/').rsplit('/', 1)[-1]}"


def missing_weights_mb(layer: Layer) -> int | None:
    """The size of the ImageNet file a Backbone asks for but this computer lacks, else None."""
    if not isinstance(layer, Backbone) or layer.weights != "imagenet" or layer.arch not in BACKBONES:
        return None
    if layer.weights_path is not None:
        return None
    from cnnstudio.core.weights import entry

    return entry(layer.arch).megabytes


def is_frozen(layer: Layer) -> bool:
    """Whether training leaves the layer as it is: locked, or a Backbone with no block to train."""
    return not layer.trainable or (isinstance(layer, Backbone) and layer.train_blocks == 0)


def unlocked(layer: Layer) -> Layer:
    """The layer with its lock open; a Backbone with no block to train then trains all of them."""
    if isinstance(layer, Backbone) and layer.train_blocks == 0 and layer.arch in BACKBONES:
        return layer.replace(trainable=True, train_blocks=len(BACKBONES[layer.arch].blocks))
    return layer.replace(trainable=True)


def describe_params(info: LayerInfo) -> str:
    if info.params == 0:
        return "no parameters"
    text = f"{info.params:,} parameters"
    if info.trainable_params == 0:
        return text + ", frozen"
    if info.trainable_params < info.params:
        return text + f" ({info.trainable_params:,} train)"
    return text


class LayerCard(QFrame):
    clicked = Signal(int)
    lock_toggled = Signal(int)
    duplicate_requested = Signal(int)
    delete_requested = Signal(int)
    get_weights_requested = Signal(int)  # a Backbone without its ImageNet file wants it

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("LayerCard")
        self.index = -1
        self.layer: Layer | None = None
        self.info: LayerInfo | None = None
        self.selected = False
        self._press: QPoint | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.OpenHandCursor)

        self.icon_label = QLabel(self)
        self.icon_label.setFixedSize(28, 28)
        self.title = QLabel(self)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)  # a narrow model column (1000 x 700) wraps instead of cutting
        self.settings = WrappedLabel(self)  # its height at the card's width: narrow cards wrap, not cut
        self.shape_label = QLabel(self)
        self.shape_label.setWordWrap(True)
        self.params_label = QLabel(self)
        self.params_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.error_label = WrappedLabel(self)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note_label = WrappedLabel(self)
        self.get_weights_button = QPushButton(self)
        self.get_weights_button.setCursor(Qt.CursorShape.ArrowCursor)
        self.get_weights_button.setToolTip(
            "Download torchvision's official ImageNet weights for this network"
        )
        self.get_weights_button.clicked.connect(lambda: self.get_weights_requested.emit(self.index))
        self.get_weights_button.hide()

        self.lock_button = self._tool_button("layers/unlock", "", self._lock_clicked)
        self.lock_button.setCheckable(True)
        self.duplicate_button = self._tool_button(
            "layers/duplicate",
            "Duplicate this layer (Ctrl+D)",
            lambda: self.duplicate_requested.emit(self.index),
        )
        self.delete_button = self._tool_button(
            "layers/remove", "Delete this layer (Del)", lambda: self.delete_requested.emit(self.index)
        )

        top = QHBoxLayout()
        top.setSpacing(6)
        top.addWidget(self.icon_label)
        top.addWidget(self.title, 1)
        for button in (self.lock_button, self.duplicate_button, self.delete_button):
            top.addWidget(button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.shape_label, 1)
        bottom.addWidget(self.params_label)
        column = QVBoxLayout(self)
        column.setContentsMargins(10, 6, 8, 8)
        column.setSpacing(2)
        column.addLayout(top)
        column.addWidget(self.settings)
        column.addLayout(bottom)
        column.addWidget(self.note_label)
        column.addWidget(self.get_weights_button, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(self.error_label)

    def _tool_button(self, icon_name: str, tip: str, slot) -> QToolButton:
        button = QToolButton(self)
        button.setIcon(icon(icon_name))
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.setCursor(Qt.CursorShape.ArrowCursor)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    # ---- content -------------------------------------------------------------------------------
    def set_layer(
        self, index: int, layer: Layer, info: LayerInfo, num_classes: int, classes_known: bool
    ) -> None:
        self.index, self.layer, self.info = index, layer, info
        is_input = index == 0
        self.icon_label.setPixmap(icon(layer_icon_name(layer.type)).pixmap(26, 26))
        muted = muted_color().name()
        number = f'<span style="color:{muted}">#{index}</span>&nbsp; '
        self.title.setText(
            f"{number}<b>{info.name}</b> &nbsp;<span style='color:{muted}'>{layer.type}</span>"
        )
        self.settings.setText(describe_settings(layer, num_classes, classes_known))
        unknown = info.output_shape is None and info.error is None  # after a problem further up
        if info.output_shape is not None:
            self.shape_label.setText(f"→ {describe_shape(info.output_shape)}")
        else:
            self.shape_label.setText("→ ? (fix the problem above first)" if unknown else "→ ?")
        self.params_label.setText("" if is_input or unknown else describe_params(info))
        self.shape_label.setStyleSheet(f"color:{muted}")
        self.params_label.setStyleSheet(f"color:{muted}")
        self.settings.setStyleSheet(f"color:{muted}")

        has_params = info.params > 0 or isinstance(layer, Backbone)
        self.lock_button.setVisible(has_params and not is_input)
        frozen = is_frozen(layer)
        self.lock_button.setChecked(frozen)
        self.lock_button.setIcon(icon("layers/lock" if frozen else "layers/unlock"))
        if frozen:
            tip = "Frozen: training leaves this layer's weights as they are. Click to let it learn."
            if isinstance(layer, Backbone) and layer.train_blocks == 0:
                tip += " (All its blocks; choose how many in its settings.)"
        else:
            tip = "Learns while training. Click to freeze (lock) its weights."
        self.lock_button.setToolTip(tip)
        self.duplicate_button.setVisible(not is_input)
        self.delete_button.setVisible(not is_input)
        self.setCursor(Qt.CursorShape.PointingHandCursor if is_input else Qt.CursorShape.OpenHandCursor)
        self.setToolTip(layer.description)

        self.error_label.setVisible(info.error is not None)
        if info.error is not None:
            self.error_label.setText(f"⚠ {_without_prefix(info.error)}")
            self.error_label.setStyleSheet(f"color:{error_color().name()}")
        self.note_label.setVisible(info.note is not None)
        if info.note is not None:
            self.note_label.setText(without_commands(info.note))
            self.note_label.setStyleSheet(f"color:{warning_color().name()}")
        missing = missing_weights_mb(layer)
        self.get_weights_button.setVisible(missing is not None)
        if missing is not None:
            self.get_weights_button.setText(f"Get the pre-trained weights ({missing} MB)…")
        self._restyle()

    def sizeHint(self):  # noqa: N802 (Qt's name)
        # As tall as its wrapped texts need at its width: a narrow column (1000 x 700) cut them.
        hint = super().sizeHint()
        layout = self.layout()
        if layout is not None and layout.hasHeightForWidth() and self.width() > 0:
            hint.setHeight(max(hint.height(), layout.totalHeightForWidth(self.width())))
        return hint

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.updateGeometry()

    def set_selected(self, selected: bool) -> None:
        if selected != self.selected:
            self.selected = selected
            self._restyle()

    def _restyle(self) -> None:
        # The application's palette: the card's own palette already carries its last style sheet.
        palette = QGuiApplication.palette()
        base = palette.color(QPalette.ColorRole.Base)
        if self.info is not None and self.info.error is not None:
            border = error_color()
        elif self.selected:
            border = palette.color(QPalette.ColorRole.Highlight)
        else:
            border = palette.color(QPalette.ColorRole.Mid)
        background = QColor(base)
        if self.selected:
            highlight = palette.color(QPalette.ColorRole.Highlight)
            background = _mix(base, highlight, 0.12)
        width = 2 if self.selected or (self.info is not None and self.info.error) else 1
        self.setStyleSheet(
            f"#LayerCard {{ background:{background.name()}; border:{width}px solid {border.name()};"
            f" border-radius:6px; }}"
        )

    # ---- mouse: select, drag to reorder --------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
            self.clicked.emit(self.index)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if (
            self._press is not None
            and self.index > 0
            and event.buttons() & Qt.MouseButton.LeftButton
            and (event.position().toPoint() - self._press).manhattanLength()
            >= QApplication.startDragDistance()
        ):
            press, self._press = self._press, None
            drag = QDrag(self)
            drag.setMimeData(move_mime(self.index))
            pixmap = self.grab()
            drag.setPixmap(pixmap)
            drag.setHotSpot(press)
            drag.exec(Qt.DropAction.MoveAction)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._press = None
        super().mouseReleaseEvent(event)

    def _lock_clicked(self) -> None:
        self.lock_toggled.emit(self.index)


def _mix(a: QColor, b: QColor, share: float) -> QColor:
    return QColor(
        round(a.red() * (1 - share) + b.red() * share),
        round(a.green() * (1 - share) + b.green() * share),
        round(a.blue() * (1 - share) + b.blue() * share),
    )


def _without_prefix(error: str) -> str:
    """infer_shapes says "Conv2D #5: this 3x3 filter ..."; on the card itself the layer is obvious."""
    head, sep, rest = error.partition(": ")
    if sep and "#" in head and len(head) < 40:
        return rest[:1].upper() + rest[1:]
    return error


def without_commands(text: str) -> str:
    """Core's note for the app: its "or `cnnstudio ...`" (for the terminal) left out; the card has a
    button for it."""
    return re.sub(r",? or `cnnstudio [^`]*`", "", text)
