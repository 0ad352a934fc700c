"""The selected layer's settings: spin boxes and choices, checked as they are typed.

A value that cannot work is shown in red with the reason under it, and the design keeps its last
good value; a good value becomes a new spec at once (one undo step per setting, however many
keys were typed). The layer's own problem (from the shape check) is shown at the top.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.spec import BACKBONES, Backbone, Layer
from cnnstudio.core.spec.backbones import weights_origin
from cnnstudio.core.spec.infer import display_names
from cnnstudio.gui.model import fields as F
from cnnstudio.gui.model.card import is_frozen, layer_icon_name, unlocked
from cnnstudio.gui.model.document import DesignDocument
from cnnstudio.gui.style import icon, muted_color
from cnnstudio.gui.style.theme import error_color

INVALID_STYLE = "border: 2px solid {color}; border-radius: 3px;"


class PropertyEditor(QWidget):
    load_weights_requested = Signal(int)  # the Backbone at this index wants a weights file

    def __init__(self, document: DesignDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.index = -1
        self._layer: Layer | None = None  # the layer the widgets show
        self._type = ""
        self.editors: dict[str, QWidget] = {}
        self.error_labels: dict[str, QLabel] = {}
        self._fields: dict[str, F.Field] = {}
        self.trainable_box: QCheckBox | None = None

        self.header = QLabel(self)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header_icon = QLabel(self)
        self.description = QLabel(self)
        self.description.setWordWrap(True)
        self.description.setStyleSheet(f"color:{muted_color().name()}")
        self.problem = QLabel(self)
        self.problem.setWordWrap(True)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem.setStyleSheet(
            f"color:{error_color().name()}; border:1px solid {error_color().name()}; border-radius:4px; padding:6px"
        )
        self.problem.hide()
        self.form_host = QWidget(self)
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 6, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        head = QHBoxLayout()
        head.addWidget(self.header_icon)
        head.addWidget(self.header, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.description)
        layout.addWidget(self.problem)
        layout.addWidget(self.form_host)
        layout.addStretch(1)
        document.report_changed.connect(self._document_changed)
        self.show_layer(-1)

    # ---- which layer ---------------------------------------------------------------------------
    def show_layer(self, index: int) -> None:
        layers = self.document.spec.layers
        self.index = index if 0 <= index < len(layers) else -1
        self._build()

    def _build(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        self.error_labels.clear()
        self._fields.clear()
        self.trainable_box = None
        if self.index < 0:
            self._layer, self._type = None, ""
            self.header_icon.clear()
            self.header.setText("<b>No layer selected</b>")
            self.description.setText("Click a layer of the model to see and change its settings.")
            self.problem.hide()
            return
        layer = self.document.spec.layers[self.index]
        self._layer, self._type = layer, layer.type
        self.header_icon.setPixmap(icon(layer_icon_name(layer.type)).pixmap(24, 24))
        self.description.setText(layer.description)
        for field in F.fields_for(layer.type):
            self._add_field(field, layer)
        if self.index > 0:
            self._add_field(F.NAME_FIELD, layer)
            if layer.type in ("Conv2D", "Dense", "BatchNormalization", "Backbone"):
                text = (
                    "Unlocked (blocks learn)"
                    if isinstance(layer, Backbone)
                    else "Learns while training (unlocked)"
                )
                box = QCheckBox(text, self.form_host)
                box.setToolTip(
                    "Untick to freeze (lock) this layer: training then leaves its weights as they are."
                )
                box.setChecked(not is_frozen(layer))  # as the card says: 0 blocks to train is frozen
                box.toggled.connect(self._trainable_toggled)
                self.form.addRow("", box)
                self.trainable_box = box
        self._enable_blocks(layer)
        if not self._fields and self.index > 0:
            self.form.addRow(QLabel("This layer has no settings.", self.form_host))
        self._show_report()

    def _enable_blocks(self, layer: Layer) -> None:
        """A locked Backbone trains no block, whatever the number says."""
        blocks = self.editors.get("train_blocks")
        if blocks is not None:
            blocks.setEnabled(layer.trainable)
            blocks.setToolTip(
                self._fields["train_blocks"].help
                if layer.trainable
                else "The network is locked: unlock it to train blocks."
            )

    # ---- editors -------------------------------------------------------------------------------
    def _add_field(self, field: F.Field, layer: Layer) -> None:
        editor = self._make_editor(field, layer)
        error = QLabel(self.form_host)
        error.setWordWrap(True)
        error.setStyleSheet(f"color:{error_color().name()}")
        error.hide()
        cell = QWidget(self.form_host)
        column = QVBoxLayout(cell)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(1)
        column.addWidget(editor)
        column.addWidget(error)
        if field.help:
            editor.setToolTip(field.help)
        label = QLabel(field.label, self.form_host)
        label.setToolTip(field.help)
        self.form.addRow(label, cell)
        self.editors[field.name] = editor
        self.error_labels[field.name] = error
        self._fields[field.name] = field
        self._set_value(field, editor, getattr(layer, field.name))

    def _make_editor(self, field: F.Field, layer: Layer) -> QWidget:
        parent = self.form_host
        if field.kind == F.INT:
            box = QSpinBox(parent)
            maximum = int(field.maximum)
            if isinstance(layer, Backbone) and field.name == "train_blocks" and layer.arch in BACKBONES:
                maximum = len(BACKBONES[layer.arch].blocks)
            box.setRange(int(field.minimum), maximum)
            box.setAccelerated(True)
            box.valueChanged.connect(lambda value, f=field: self._commit(f, int(value)))
            return box
        if field.kind == F.FLOAT:
            box = QDoubleSpinBox(parent)
            box.setRange(field.minimum, field.maximum)
            box.setSingleStep(field.step)
            box.setDecimals(field.decimals)
            box.valueChanged.connect(lambda value, f=field: self._commit(f, round(float(value), f.decimals)))
            return box
        if field.kind in (F.CHOICE, F.WEIGHTS):
            combo = _combo(parent)
            for value, label in self._choices(field, layer):
                combo.addItem(label, value)
            combo.currentIndexChanged.connect(lambda _i, f=field, c=combo: self._commit(f, c.currentData()))
            if field.kind == F.WEIGHTS:
                host = QWidget(parent)
                row = QVBoxLayout(host)
                row.setContentsMargins(0, 0, 0, 0)
                row.addWidget(combo)
                button = QPushButton(icon("layers/weights"), "Load weights from file…", host)
                button.setToolTip("Use a .pth or .safetensors file of torchvision weights for this network.")
                button.clicked.connect(lambda: self.load_weights_requested.emit(self.index))
                row.addWidget(button)
                host.combo = combo  # type: ignore[attr-defined]
                return host
            return combo
        if field.kind == F.UNITS:
            combo = _combo(parent)
            combo.setEditable(True)
            combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            combo.addItem(self._auto_label(), "auto")
            for units in (16, 32, 64, 128, 256, 512):
                combo.addItem(str(units), units)
            combo.lineEdit().textEdited.connect(lambda text, f=field: self._typed(f, text))
            combo.activated.connect(lambda i, f=field, c=combo: self._commit(f, c.itemData(i)))
            return combo
        line = QLineEdit(parent)
        line.setPlaceholderText(field.placeholder)
        line.textEdited.connect(lambda text, f=field: self._typed(f, text))
        return line

    def _choices(self, field: F.Field, layer: Layer) -> list[tuple[Any, str]]:
        if field.kind != F.WEIGHTS:
            return list(field.choices)
        assert isinstance(layer, Backbone)
        origin = weights_origin(layer.arch) if layer.arch in BACKBONES else "random weights"
        label = {
            "pre-trained on ImageNet": "ImageNet (here)",
            "random weights": "ImageNet (not here yet)",  # short: the settings column is narrow
        }
        choices: list[tuple[Any, str]] = [
            ("imagenet", label.get(origin, origin.replace("imported from ", "Imported: "))),
            ("random", "Random (learn from scratch)"),
        ]
        if layer.weights not in ("imagenet", "random"):
            name = layer.weights.replace("\\", "/").rsplit("/", 1)[-1]
            choices.append((layer.weights, f"File: {name}"))
        return choices

    def _auto_label(self) -> str:
        n = self.document.num_classes
        return (
            f"auto ({n} classes)"
            if self.document.classes_known
            else f"auto ({n} classes until a dataset is open)"
        )

    def _set_value(self, field: F.Field, editor: QWidget, value: Any) -> None:
        editor.blockSignals(True)
        try:
            if field.kind == F.INT:
                editor.setValue(int(value))
            elif field.kind == F.FLOAT:
                editor.setValue(float(value))
            elif field.kind == F.CHOICE:
                editor.setCurrentIndex(max(0, editor.findData(value)))
            elif field.kind == F.WEIGHTS:
                combo = editor.combo
                combo.blockSignals(True)
                combo.clear()
                for data, label in self._choices(field, self._layer):
                    combo.addItem(label, data)
                combo.setCurrentIndex(max(0, combo.findData(value)))
                combo.blockSignals(False)
            elif field.kind == F.UNITS:
                editor.setItemText(0, self._auto_label())
                if value == "auto":
                    editor.setCurrentIndex(0)
                else:
                    editor.setEditText(str(value))
            elif field.kind == F.SIZE:
                editor.setText(F.format_size(value))
            elif field.kind == F.NUMBER:
                editor.setText(F.format_number(value))
            elif field.kind == F.NAME:
                editor.setText(value or "")
                editor.setPlaceholderText(display_names(self.document.spec.layers)[self.index])
        finally:
            editor.blockSignals(False)

    # ---- edits ---------------------------------------------------------------------------------
    def _typed(self, field: F.Field, text: str) -> None:
        try:
            if field.kind == F.SIZE:
                value = F.parse_size(text, field.optional)
            elif field.kind == F.NUMBER:
                value = F.parse_number(text)
            elif field.kind == F.UNITS:
                value = F.parse_units(text)
            elif field.kind == F.NAME:
                names = display_names(self.document.spec.layers)
                value = F.parse_name(text, [n for i, n in enumerate(names) if i != self.index])
            else:
                raise AssertionError(field.kind)
        except ValueError as exc:
            self._show_error(field.name, str(exc))
            return
        self._commit(field, value)

    def _commit(self, field: F.Field, value: Any) -> None:
        if self.index < 0:
            return
        layer = self.document.spec.layers[self.index]
        changes = {field.name: value}
        if isinstance(layer, Backbone) and field.name == "arch" and value in BACKBONES:
            # Another network may have fewer blocks: keep the number of blocks to train possible.
            changes["train_blocks"] = min(layer.train_blocks, len(BACKBONES[value].blocks))
        try:
            candidate = layer.replace(**changes)
            candidate.check()
        except (ValueError, TypeError) as exc:
            self._show_error(field.name, _in_words(str(exc), field))
            return
        self._show_error(field.name, None)
        if candidate == layer:
            return
        self._layer = candidate
        name = display_names(self.document.spec.layers)[self.index]
        self.document.replace_layer(
            self.index,
            candidate,
            f"Change {field.label.lower()} of {name}",
            merge_key=(self.index, field.name),
        )

    def _trainable_toggled(self, checked: bool) -> None:
        layer = self.document.spec.layers[self.index]
        changed = unlocked(layer) if checked else layer.replace(trainable=False)
        word = "Unlock" if checked else "Lock"
        # _document_changed shows the new values (unlocking a Backbone also sets its blocks to train).
        self.document.replace_layer(self.index, changed, f"{word} {layer.type}")

    def _show_error(self, name: str, message: str | None) -> None:
        editor, label = self.editors.get(name), self.error_labels.get(name)
        if editor is None or label is None:
            return
        target = editor.combo if hasattr(editor, "combo") else editor
        target.setStyleSheet("" if message is None else INVALID_STYLE.format(color=error_color().name()))
        label.setVisible(message is not None)
        label.setText(message or "")
        target.setProperty("invalid", message is not None)

    def field_error(self, name: str) -> str | None:
        """The message shown under a setting, or None when its value is good."""
        label = self.error_labels.get(name)
        return (label.text() or None) if label is not None else None

    # ---- the design changed (undo, another view, the dataset) ----------------------------------
    def _document_changed(self, _report=None) -> None:
        layers = self.document.spec.layers
        if self.index >= len(layers):
            self.show_layer(len(layers) - 1)
            return
        if self.index < 0:
            return
        layer = layers[self.index]
        if layer.type != self._type:
            self._build()
            return
        if layer != self._layer:  # changed elsewhere (undo): show the new values
            self._layer = layer
            for name, field in self._fields.items():
                self._set_value(field, self.editors[name], getattr(layer, name))
                self._show_error(name, None)
            self._enable_blocks(layer)
        elif "units" in self.editors:
            self.editors["units"].setItemText(0, self._auto_label())
        if self.trainable_box is not None:  # also after "Blocks to train" changed here: 0 is frozen
            self.trainable_box.blockSignals(True)
            self.trainable_box.setChecked(not is_frozen(layer))
            self.trainable_box.blockSignals(False)
        self._show_report()

    def _show_report(self) -> None:
        report = self.document.report
        if self.index < 0 or self.index >= len(report.layers):
            self.problem.hide()
            return
        info = report.layers[self.index]
        layer = self.document.spec.layers[self.index]
        muted = muted_color().name()
        self.header.setText(
            f"<b>{info.name}</b> &nbsp;<span style='color:{muted}'>{layer.type} · layer #{self.index}</span>"
        )
        self.problem.setVisible(info.error is not None)
        if info.error is not None:
            self.problem.setText(f"⚠ {info.error}")


def _combo(parent: QWidget) -> QComboBox:
    """A combo box as narrow as the panel: long labels are cut on screen, complete in the list."""
    combo = QComboBox(parent)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(10)
    return combo


def _in_words(message: str, field: F.Field) -> str:
    """Core says "kernel_size must be ..."; the editor calls that setting "Filter size"."""
    if message.startswith(field.name + " "):
        return field.label + message[len(field.name) :]
    return message[:1].upper() + message[1:]
