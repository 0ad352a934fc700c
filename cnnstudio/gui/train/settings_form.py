"""The training settings in plain words, with the defaults most image classifiers do well with.

`SettingsForm.config()` is a `TrainConfig`; `set_config()` shows one. Settings the form does not show
(momentum, the schedule's factors, ...) are kept from the config it was given, so a config written
by the CLI or an earlier version round-trips unchanged.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.errors import UserError
from cnnstudio.gui.style import muted_color

OPTIMIZERS = [
    ("Adam (a good default)", "adam"),
    ("AdamW (Adam with weight decay)", "adamw"),
    ("SGD with momentum (classic)", "sgd"),
    ("RMSprop", "rmsprop"),
]
SCHEDULES = [
    ("Keep it constant", "constant"),
    ("Lower it step by step", "step"),
    ("Lower it smoothly (cosine)", "cosine"),
    ("Warm up, then lower it (one cycle)", "one_cycle"),
    ("Lower it when progress stalls", "plateau"),
]
MONITORS = [("validation loss", "val_loss"), ("validation accuracy", "val_accuracy")]
PRECISIONS = [
    ("Automatic", "auto"),
    ("Full (32-bit, exact)", "full"),
    ("Fast (bf16, even where slow)", "fast"),
]
# (field, label, unit, slider maximum, scale from slider steps to the config's value, tip)
SLIDERS = [
    ("rotation", "Rotate", "°", 90, 1.0, "Turn each picture by up to this many degrees, either way."),
    ("zoom", "Zoom", "%", 50, 0.01, "Zoom in or out by up to this share of the picture."),
    ("translate", "Shift", "%", 50, 0.01, "Move the picture by up to this share of its size."),
    ("brightness", "Brightness", "%", 50, 0.01, "Make the picture lighter or darker by up to this much."),
    ("contrast", "Contrast", "%", 50, 0.01, "Raise or lower the contrast by up to this much."),
]


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {muted_color().name()}; font-size: 11px;")
    return label


def _combo(items: list[tuple[str, str]]) -> QComboBox:
    combo = QComboBox()
    for text, value in items:
        combo.addItem(text, value)
    return combo


def _select(combo: QComboBox, value: str) -> None:
    i = combo.findData(value)
    if i < 0:  # a value this form has no entry for (a GPU not found any more): show it as it is
        combo.addItem(value, value)
        i = combo.count() - 1
    combo.setCurrentIndex(i)


class SettingsForm(QWidget):
    changed = Signal()  # any setting changed (the panel saves it in the project)
    augment_changed = Signal()  # the augmentation settings changed (the preview redraws)
    find_lr_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        from cnnstudio.core.train.config import TrainConfig  # plain data; no torch

        super().__init__(parent)
        self._base = TrainConfig()
        self._loading = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 4, 0)
        layout.addWidget(self._training_group())
        self.augment_group = self._augment_group()
        layout.addWidget(self.augment_group)
        layout.addWidget(self._stopping_group())
        layout.addWidget(self._hardware_group())
        layout.addStretch(1)
        self.set_config(self._base)

    # ---- groups --------------------------------------------------------------------------------
    def _training_group(self) -> QGroupBox:
        box = QGroupBox("Training")
        form = QFormLayout(box)
        self.epochs = QSpinBox(minimum=1, maximum=100_000)
        self.epochs.setToolTip("How many times training goes through all the training pictures.")
        self.batch_size = QSpinBox(minimum=1, maximum=4096)
        self.batch_size.setToolTip(
            "How many pictures the model looks at before each small correction. 32 suits most cases; "
            "lower it if the computer runs out of memory."
        )
        self.lr = QLineEdit()
        validator = QDoubleValidator(1e-9, 10.0, 9, self.lr)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.lr.setValidator(validator)
        self.lr.setToolTip(
            "How big each correction is. Too high and training becomes unstable; too low and it crawls. "
            "0.001 suits Adam."
        )
        self.find_lr_button = QPushButton("Find a good learning rate…")
        self.find_lr_button.setToolTip(
            "Train briefly while raising the learning rate, and suggest the one where the loss fell fastest."
        )
        self.find_lr_button.clicked.connect(self.find_lr_requested)
        self.optimizer = _combo(OPTIMIZERS)
        self.optimizer.setToolTip("The method that turns mistakes into corrections of the model.")
        self.schedule = _combo(SCHEDULES)
        self.schedule.setToolTip("How the learning rate changes during training.")
        self.step_size = QSpinBox(minimum=1, maximum=10_000, suffix=" epochs")
        self.step_size.setToolTip("Divide the learning rate by 10 every this many epochs.")
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Learning rate", self.lr)
        form.addRow("", self.find_lr_button)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Learning-rate schedule", self.schedule)
        self.step_row_label = QLabel("Lower every")
        form.addRow(self.step_row_label, self.step_size)
        self.schedule.currentIndexChanged.connect(self._show_step_size)
        for w in (self.epochs, self.batch_size, self.step_size):
            w.valueChanged.connect(self._emit)
        for combo in (self.optimizer, self.schedule):
            combo.currentIndexChanged.connect(self._emit)
        self.lr.textChanged.connect(self._emit)
        return box

    def _augment_group(self) -> QGroupBox:
        box = QGroupBox("Augmentation")
        layout = QVBoxLayout(box)
        self.augment = QCheckBox("Change the training pictures at random")
        self.augment.setToolTip(
            "Each picture is changed a little, differently every epoch, so the model learns what matters "
            "rather than memorising the pictures. It helps most with few pictures."
        )
        layout.addWidget(self.augment)
        flips = QHBoxLayout()
        self.hflip = QCheckBox("Mirror left–right")
        self.hflip.setToolTip(
            "Leave off for digits, letters and anything whose mirror image is another class."
        )
        self.vflip = QCheckBox("Flip upside down")
        self.vflip.setToolTip("Only for pictures without an up, such as cells or satellite images.")
        flips.addWidget(self.hflip)
        flips.addWidget(self.vflip)
        flips.addStretch(1)
        layout.addLayout(flips)
        form = QFormLayout()
        self.sliders: dict[str, tuple[QSlider, QLabel, float, str]] = {}
        for name, label, unit, maximum, scale, tip in SLIDERS:
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, maximum)
            slider.setToolTip(tip)
            value = QLabel()
            value.setMinimumWidth(44)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            row = QHBoxLayout()
            row.addWidget(slider, 1)
            row.addWidget(value)
            form.addRow(label, row)
            self.sliders[name] = (slider, value, scale, unit)
            slider.valueChanged.connect(lambda _v, n=name: self._slider_moved(n))
        layout.addLayout(form)
        self.augment.toggled.connect(self._augment_toggled)
        for w in (self.hflip, self.vflip):
            w.toggled.connect(self._emit_augment)
        self.preview_slot = QVBoxLayout()  # the panel puts the preview grid here
        layout.addLayout(self.preview_slot)
        return box

    def _stopping_group(self) -> QGroupBox:
        box = QGroupBox("When to stop")
        form = QFormLayout(box)
        self.early_stopping = QCheckBox("Stop early when the model stops improving")
        self.early_stopping.setToolTip(
            "End the run when the judged value has not improved for a number of epochs."
        )
        self.patience = QSpinBox(minimum=1, maximum=10_000, suffix=" epochs")
        self.patience.setToolTip("How many epochs without improvement before stopping.")
        self.restore_best = QCheckBox("Keep the best epoch's model at the end")
        self.monitor = _combo(MONITORS)
        self.monitor.setToolTip(
            "Which number decides the best epoch (the saved best model) and early stopping."
        )
        form.addRow(self.early_stopping)
        form.addRow("Wait", self.patience)
        form.addRow(self.restore_best)
        form.addRow("Best epoch by", self.monitor)
        self.early_stopping.toggled.connect(self._update_enabled)
        for w in (self.early_stopping, self.restore_best):
            w.toggled.connect(self._emit)
        self.patience.valueChanged.connect(self._emit)
        self.monitor.currentIndexChanged.connect(self._emit)
        return box

    def _hardware_group(self) -> QGroupBox:
        box = QGroupBox("Data and computer")
        form = QFormLayout(box)
        self.balance = QCheckBox("Balance the classes")
        self.balance.setToolTip(
            "Count mistakes on a rare class as much as on a common one, so the model does not ignore it."
        )
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.seed.setToolTip("The same seed and the same settings train the same model again.")
        self.device = _combo([("Automatic (the fastest available)", "auto"), ("Processor (CPU)", "cpu")])
        self.device.setToolTip(
            "Where the training runs. A graphics card (GPU) is much faster when there is one."
        )
        self.precision = _combo(PRECISIONS)
        self.precision.setToolTip(
            "Automatic uses 16-bit (bf16) arithmetic where the processor does it fast, and full 32-bit "
            "elsewhere. Saved models are always 32-bit."
        )
        self.precision_hint = _hint("")
        # Shown only when the computer has more than one GPU (set_devices).
        self.processes = QSpinBox(minimum=1, maximum=1)
        self.processes.setToolTip(
            "Train on several GPUs at once: one process per GPU, each on its share of the pictures "
            "(the batch size is per GPU)."
        )
        form.addRow(self.balance)
        form.addRow("Random seed", self.seed)
        form.addRow("Device", self.device)
        form.addRow("Precision", self.precision)
        form.addRow("", self.precision_hint)
        form.addRow("Processes/GPUs", self.processes)
        form.setRowVisible(self.processes, False)
        self._hardware_form = form
        self.balance.toggled.connect(self._emit)
        self.seed.valueChanged.connect(self._emit)
        self.device.currentIndexChanged.connect(self._emit)
        self.precision.currentIndexChanged.connect(self._emit)
        return box

    # ---- hardware found in the background --------------------------------------------------------
    def set_devices(self, devices: list[tuple[str, str]], precision_hint: str = "") -> None:
        """The devices found on this computer: (label, value) after Automatic and CPU."""
        current = self.device.currentData()
        self._loading = True
        try:
            while self.device.count() > 2:
                self.device.removeItem(2)
            for text, value in devices:
                self.device.addItem(text, value)
            _select(self.device, current)
            gpus = sum(1 for _text, value in devices if value.startswith("cuda:"))
            self.processes.setMaximum(max(1, gpus))
            self._hardware_form.setRowVisible(self.processes, gpus > 1)
        finally:
            self._loading = False
        self.precision_hint.setText(precision_hint)

    def process_count(self) -> int:
        """Training processes (one per GPU); 1 unless the computer has several GPUs."""
        return self.processes.value() if self.processes.maximum() > 1 else 1

    # ---- reading and writing ---------------------------------------------------------------------
    def set_config(self, config) -> None:
        from cnnstudio.core.train.config import AugmentConfig

        self._base = dataclasses.replace(config, augment=dataclasses.replace(config.augment))
        self._loading = True
        try:
            self.epochs.setValue(config.epochs)
            self.batch_size.setValue(config.batch_size)
            self.lr.setText(f"{config.lr:g}")
            _select(self.optimizer, config.optimizer)
            _select(self.schedule, config.schedule)
            self.step_size.setValue(config.step_size)
            augment = config.augment
            self.augment.setChecked(augment.enabled)
            shown = augment if augment.enabled else AugmentConfig.default()
            self.hflip.setChecked(augment.hflip)
            self.vflip.setChecked(augment.vflip)
            for name, (slider, _label, scale, _unit) in self.sliders.items():
                steps = round(getattr(shown, name) / scale)
                slider.setMaximum(max(slider.maximum(), steps))
                slider.setValue(steps)
                self._slider_moved(name, emit=False)
            self.early_stopping.setChecked(config.early_stopping)
            self.patience.setValue(max(1, config.patience))
            self.restore_best.setChecked(config.restore_best)
            _select(self.monitor, config.monitor)
            self.balance.setChecked(config.balance_classes)
            self.seed.setValue(config.seed)
            _select(self.device, config.device)
            _select(self.precision, config.precision)
        finally:
            self._loading = False
        self._show_step_size()
        self._update_enabled()

    def learning_rate(self) -> float:
        text = self.lr.text().strip().replace(",", ".")
        try:
            value = float(text)
        except ValueError:
            raise UserError(f"The learning rate {text!r} is not a number; try 0.001.") from None
        if not value > 0:
            raise UserError("The learning rate must be above 0; try 0.001.")
        return value

    def set_learning_rate(self, value: float) -> None:
        self.lr.setText(f"{value:.2g}")

    def augment_config(self):
        from cnnstudio.core.train.config import AugmentConfig

        if not self.augment.isChecked():
            return AugmentConfig.none()
        values = {name: slider.value() * scale for name, (slider, _l, scale, _u) in self.sliders.items()}
        return AugmentConfig(hflip=self.hflip.isChecked(), vflip=self.vflip.isChecked(), **values)

    def config(self):
        """The settings as a TrainConfig (raises UserError for one that cannot work)."""
        config = dataclasses.replace(
            self._base,
            epochs=self.epochs.value(),
            batch_size=self.batch_size.value(),
            lr=self.learning_rate(),
            optimizer=self.optimizer.currentData(),
            schedule=self.schedule.currentData(),
            step_size=self.step_size.value(),
            early_stopping=self.early_stopping.isChecked(),
            patience=self.patience.value(),
            restore_best=self.restore_best.isChecked(),
            monitor=self.monitor.currentData(),
            balance_classes=self.balance.isChecked(),
            seed=self.seed.value(),
            device=self.device.currentData(),
            precision=self.precision.currentData(),
            augment=self.augment_config(),
        )
        if config.nesterov and config.optimizer != "sgd":
            config.nesterov = False  # a setting of the old optimizer that the new one lacks
        config.validate()
        return config

    # ---- reactions -----------------------------------------------------------------------------
    def _slider_moved(self, name: str, emit: bool = True) -> None:
        slider, label, scale, unit = self.sliders[name]
        value = slider.value()
        label.setText(f"±{value}{unit}" if value else "off")
        if emit:
            self._emit_augment()

    def _augment_toggled(self) -> None:
        self._update_enabled()
        self._emit_augment()

    def _update_enabled(self) -> None:
        on = self.augment.isChecked()
        for w in (self.hflip, self.vflip):
            w.setEnabled(on)
        for slider, label, _s, _u in self.sliders.values():
            slider.setEnabled(on)
            label.setEnabled(on)
        early = self.early_stopping.isChecked()
        self.patience.setEnabled(early)
        self.restore_best.setEnabled(early)

    def _show_step_size(self) -> None:
        step = self.schedule.currentData() == "step"
        self.step_size.setVisible(step)
        self.step_row_label.setVisible(step)

    def _emit(self) -> None:
        if not self._loading:
            self.changed.emit()

    def _emit_augment(self) -> None:
        if not self._loading:
            self.augment_changed.emit()
            self.changed.emit()
