"""Fine-tune from a run: choose which layers keep their trained weights (frozen) and which learn more.

The new run starts from the chosen run's best weights; the dialog only decides `trainable` on a copy
of that run's design (and, for a pre-trained backbone, how many of its last blocks learn).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.spec import Backbone, ModelSpec, infer_shapes
from cnnstudio.gui.style import muted_color


def _describe(layer, info) -> str:
    name = layer.name or layer.type
    shape = "×".join(str(n) for n in info.output_shape) if info is not None and info.output_shape else ""
    out = f"  →  {shape}" if shape else ""
    params = info.params if info is not None else 0
    return f"{name}{out}  ·  {params:,} weights" if params else f"{name}{out}  ·  no weights"


class FineTuneDialog(QDialog):
    def __init__(self, spec: ModelSpec, num_classes: int, run_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Fine-tune from {run_name}")
        self.resize(480, 520)
        self.source = spec
        report = infer_shapes(spec, num_classes)
        infos = {info.index: info for info in report.layers}
        params = {i: info.params for i, info in infos.items()}
        self.backbone_blocks: dict[int, QSpinBox] = {}

        intro = QLabel(
            f"The new run starts from the best model of <b>{run_name}</b>. Ticked layers keep learning; "
            "unticked layers keep their weights as they are (frozen). Freezing the early layers and "
            "training the last ones is the usual way to adapt a model to new pictures with few examples."
        )
        intro.setWordWrap(True)
        self.layers = QListWidget()
        for i, layer in enumerate(spec.layers):
            if i == 0:
                continue  # the Input has nothing to train
            item = QListWidgetItem(_describe(layer, infos.get(i)))
            item.setData(Qt.ItemDataRole.UserRole, i)
            if params.get(i, 0):
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if layer.trainable else Qt.CheckState.Unchecked)
            else:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.layers.addItem(item)
            if isinstance(layer, Backbone):
                spin = QSpinBox(minimum=0, maximum=64, value=layer.train_blocks)
                spin.setToolTip("How many of the backbone's last blocks keep learning (0: none).")
                spin.valueChanged.connect(self._check)
                self.backbone_blocks[i] = spin
        self.layers.itemChanged.connect(self._check)

        quick = QHBoxLayout()
        last = QPushButton("Train only the last layer")
        last.clicked.connect(self.freeze_all_but_last)
        everything = QPushButton("Train every layer")
        everything.clicked.connect(lambda: self._set_all(True))
        quick.addWidget(last)
        quick.addWidget(everything)
        quick.addStretch(1)

        self.problem = QLabel()
        self.problem.setStyleSheet("color: #c0392b;")
        hint = QLabel(
            "Training uses the settings on the left. A learning rate ten times lower than usual "
            "(for example 0.0001) suits fine-tuning."
        )
        hint.setWordWrap(True)
        hint.setStyleSheet(f"color: {muted_color().name()};")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.addButton("Start fine-tuning", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.layers, 1)
        for i, spin in self.backbone_blocks.items():
            row = QHBoxLayout()
            row.addWidget(QLabel(f"Blocks of {spec.layers[i].name or 'the backbone'} that learn:"))
            row.addWidget(spin)
            row.addStretch(1)
            layout.addLayout(row)
        layout.addLayout(quick)
        layout.addWidget(hint)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self._check()

    def _items(self) -> list[QListWidgetItem]:
        return [self.layers.item(r) for r in range(self.layers.count())]

    def _checkable(self) -> list[QListWidgetItem]:
        return [it for it in self._items() if it.flags() & Qt.ItemFlag.ItemIsUserCheckable]

    def _set_all(self, trainable: bool) -> None:
        for item in self._checkable():
            item.setCheckState(Qt.CheckState.Checked if trainable else Qt.CheckState.Unchecked)

    def freeze_all_but_last(self) -> None:
        items = self._checkable()
        for item in items:
            item.setCheckState(Qt.CheckState.Checked if item is items[-1] else Qt.CheckState.Unchecked)

    def set_trainable(self, index: int, trainable: bool) -> None:
        for item in self._checkable():
            if item.data(Qt.ItemDataRole.UserRole) == index:
                item.setCheckState(Qt.CheckState.Checked if trainable else Qt.CheckState.Unchecked)

    def _check(self, *_args) -> None:
        spec = self.spec()
        learning = [
            layer
            for layer in spec.layers[1:]
            if layer.trainable and (not isinstance(layer, Backbone) or layer.train_blocks > 0)
        ]
        nothing = not learning
        self.problem.setText(
            "Leave at least one layer ticked: a fully frozen model cannot learn." if nothing else ""
        )
        self.ok_button.setEnabled(not nothing)

    def spec(self) -> ModelSpec:
        """A copy of the run's design with the chosen layers frozen."""
        layers = list(self.source.layers)
        for item in self._checkable():
            i = item.data(Qt.ItemDataRole.UserRole)
            layers[i] = layers[i].replace(trainable=item.checkState() == Qt.CheckState.Checked)
        for i, spin in self.backbone_blocks.items():
            layers[i] = layers[i].replace(train_blocks=spin.value())
        return self.source.with_layers(layers)
