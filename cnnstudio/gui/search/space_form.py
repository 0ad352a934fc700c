"""The search settings in plain words: what varies (a range or a list for each setting), the
strategy, the metric, the epochs per trial, pruning, and the budget.

Each setting is a check box and a line of text: "0.0001 to 0.01" is a range, "16, 32, 64" a list,
one number a fixed value; the optimizers are check boxes. A line that cannot be read says why,
under it, in red. `settings()` gives a core.search SearchSettings (UserError naming the setting
when one is wrong); `set_settings(settings, editable)` shows a study's.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.errors import UserError
from cnnstudio.core.search.settings import METRICS, PRUNING, STRATEGIES, SearchSettings
from cnnstudio.core.search.space import OPTIMIZERS, PARAMS, Param, SearchSpace, make_param
from cnnstudio.gui.style import muted_color
from cnnstudio.gui.style.theme import error_color

_RANGE = re.compile(r"^\s*(\S+)\s*(?:to|-|–|\.\.)\s*(\S+)\s*$")


def param_text(param: Param) -> str:
    """How a Param reads in the form: '0.0001 to 0.01' or '16, 32, 64'."""

    def fmt(v: Any) -> str:
        return f"{v:g}" if isinstance(v, float) else str(v)

    if param.values is not None:
        return ", ".join(fmt(v) for v in param.values)
    return f"{fmt(param.low)} to {fmt(param.high)}"


def parse_param(name: str, text: str) -> Param:
    """A Param from the form's text; UserError (naming the setting) when it cannot be read."""
    info = PARAMS[name]
    text = text.strip()
    if not text:
        raise UserError(f"{info.label}: write a range (such as 0.1 to 0.5) or a list (such as 16, 32, 64).")
    match = _RANGE.match(text) if "," not in text else None
    if match:
        raw: Any = {"min": _number(info.label, match.group(1)), "max": _number(info.label, match.group(2))}
        raw["log"] = info.log
    else:
        raw = [_number(info.label, part) for part in text.replace(";", ",").split(",") if part.strip()]
    return make_param(name, raw)


def _number(label: str, text: str) -> float | int:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{label}: {text!r} is not a number.") from None
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


class _ParamRow:
    """One setting: a check box, and its text (or the optimizers' check boxes), and a message line."""

    def __init__(self, name: str, grid: QGridLayout, row: int, changed):
        info = PARAMS[name]
        self.name = name
        self.check = QCheckBox(info.label)
        self.check.setToolTip(info.help)
        self.check.toggled.connect(changed)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {error_color().name()};")
        self.message.hide()
        self.boxes: dict[str, QCheckBox] = {}
        self.edit: QLineEdit | None = None
        if info.kind == "str":
            holder = QWidget()
            line = QHBoxLayout(holder)
            line.setContentsMargins(0, 0, 0, 0)
            for opt in OPTIMIZERS:
                box = QCheckBox(opt)
                box.toggled.connect(changed)
                self.boxes[opt] = box
                line.addWidget(box)
            line.addStretch(1)
            self.field: QWidget = holder
        else:
            self.edit = QLineEdit()
            self.edit.setPlaceholderText("0.1 to 0.5, or 16, 32, 64")
            self.edit.setToolTip(f"{info.help}\nA range: '0.0001 to 0.01'. A list: '16, 32, 64'.")
            self.edit.textChanged.connect(changed)
            self.field = self.edit
        grid.addWidget(self.check, row, 0)
        grid.addWidget(self.field, row, 1)
        grid.addWidget(self.message, row + 1, 1)
        self.set_param(make_param(name, info.default))
        self.check.setChecked(False)

    def set_param(self, param: Param) -> None:
        if self.edit is not None:
            self.edit.setText(param_text(param))
        else:
            chosen = set(param.values or ())
            for opt, box in self.boxes.items():
                box.setChecked(opt in chosen)

    def param(self) -> Param:
        if self.edit is not None:
            return parse_param(self.name, self.edit.text())
        chosen = [opt for opt, box in self.boxes.items() if box.isChecked()]
        if not chosen:
            raise UserError("Optimizer: tick at least one.")
        return make_param(self.name, chosen)

    def set_available(self, available: bool, why: str = "") -> None:
        self.check.setEnabled(available)
        self.field.setEnabled(available and self.check.isChecked())
        self.check.setToolTip(PARAMS[self.name].help + (f"\n{why}" if why else ""))
        if not available:
            self.check.setChecked(False)

    def validate(self) -> str | None:
        """The message for this row's text (None when it reads well or the row is off)."""
        self.field.setEnabled(self.check.isEnabled() and self.check.isChecked())
        if not self.check.isChecked():
            self.message.hide()
            return None
        try:
            self.param()
        except UserError as exc:
            self.message.setText(str(exc))
            self.message.show()
            return str(exc)
        self.message.hide()
        return None


class SearchForm(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._editable = True
        self._loading = True  # until every widget exists
        vary = QGroupBox("What to vary")
        grid = QGridLayout(vary)
        grid.setColumnStretch(1, 1)
        hint = QLabel(
            "Tick a setting to search it. A range: <i>0.0001 to 0.01</i>; a list: <i>16, 32, 64</i>."
        )
        hint.setWordWrap(True)
        hint.setStyleSheet(f"color: {muted_color().name()};")
        grid.addWidget(hint, 0, 0, 1, 2)
        self.rows: dict[str, _ParamRow] = {}
        for i, name in enumerate(PARAMS):
            self.rows[name] = _ParamRow(name, grid, 1 + 2 * i, self._changed)

        how = QGroupBox("How to search")
        form = QFormLayout(how)
        self.strategy = QComboBox()
        for key, words in STRATEGIES.items():
            self.strategy.addItem(words, key)
        self.strategy.setToolTip(
            "Smart: tries settings near the best so far (Optuna's TPE). Random: any settings in the ranges. "
            "Grid: every combination (ranges are tried at a few points)."
        )
        self.metric = QComboBox()
        for key, metric in METRICS.items():
            self.metric.addItem(
                f"{metric.label} ({'higher' if metric.higher_is_better else 'lower'} is better)", key
            )
        self.metric.setToolTip(
            "How trials are compared: on the validation pictures, with each trial's best epoch."
        )
        self.epochs = QSpinBox(minimum=1, maximum=1000, value=5)
        self.epochs.setToolTip("How long each trial trains. Short trials find good settings quickly.")
        self.pruning = QComboBox()
        for key, words in PRUNING.items():
            self.pruning.addItem(words, key)
        self.pruning.setToolTip(
            "After each epoch a trial is compared with earlier trials at the same epoch; one that is clearly "
            "worse stops there, so the time buys more trials."
        )
        form.addRow("Strategy", self.strategy)
        form.addRow("Optimise", self.metric)
        form.addRow("Epochs per trial", self.epochs)
        form.addRow("Early stop", self.pruning)

        budget = QGroupBox("Budget")
        budget_form = QFormLayout(budget)
        self.trials = QSpinBox(minimum=1, maximum=10000, value=20)
        self.trials.setToolTip(
            "Trials in the search in all; continuing a search adds trials up to this number."
        )
        self.minutes = QDoubleSpinBox(minimum=0, maximum=100000, value=0, decimals=0, suffix=" min")
        self.minutes.setSpecialValueText("no limit")
        self.minutes.setToolTip("No trial starts after this time; the one running finishes.")
        budget_form.addRow("Trials (in all)", self.trials)
        budget_form.addRow("Time limit", self.minutes)

        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {error_color().name()};")
        self.problem.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(vary)
        layout.addWidget(how)
        layout.addWidget(budget)
        layout.addWidget(self.problem)
        layout.addStretch(1)
        for combo in (self.strategy, self.metric, self.pruning):
            combo.currentIndexChanged.connect(self._changed)
        self.epochs.valueChanged.connect(self._changed)
        self._loading = False
        self.set_settings(SearchSettings(), editable=True)

    # ---- reading and writing -------------------------------------------------------------------
    def set_settings(self, settings: SearchSettings, editable: bool = True) -> None:
        self._loading = True
        try:
            for name, row in self.rows.items():
                param = settings.space.params.get(name)
                row.check.setChecked(param is not None)
                if param is not None:
                    row.set_param(param)
            self.strategy.setCurrentIndex(self.strategy.findData(settings.strategy))
            self.metric.setCurrentIndex(self.metric.findData(settings.metric))
            self.pruning.setCurrentIndex(self.pruning.findData(settings.pruning))
            self.epochs.setValue(settings.epochs)
        finally:
            self._loading = False
        self.set_editable(editable)
        self._changed()

    def set_editable(self, editable: bool) -> None:
        """A search that exists keeps its settings: they are shown, not edited (the budget stays editable)."""
        self._editable = editable
        for row in self.rows.values():
            row.check.setEnabled(editable and row.check.property("available") is not False)
            row.field.setEnabled(editable and row.check.isChecked())
        for widget in (self.strategy, self.metric, self.epochs, self.pruning):
            widget.setEnabled(editable)

    def set_design(self, layer_types: set[str], hidden_dense: bool) -> None:
        """Settings the design has nothing for (no Dropout layer, no backbone) cannot be ticked."""
        for name, row in self.rows.items():
            needs = PARAMS[name].needs
            ok = needs is None or needs in layer_types
            why = "" if ok else f"The design has no {needs} layer."
            if ok and name == "dense_units" and not hidden_dense:
                ok, why = False, "The design has no Dense layer before the last one."
            row.check.setProperty("available", ok)
            row.set_available(ok and self._editable, why)

    def space(self) -> SearchSpace:
        params = {}
        for name, row in self.rows.items():
            if row.check.isChecked():
                params[name] = row.param()
        return SearchSpace(params)

    def settings(self) -> SearchSettings:
        settings = SearchSettings(
            space=self.space(),
            strategy=self.strategy.currentData(),
            metric=self.metric.currentData(),
            epochs=self.epochs.value(),
            pruning=self.pruning.currentData(),
        )
        settings.validate()
        return settings

    def budget(self) -> tuple[int, float | None]:
        minutes = self.minutes.value()
        return self.trials.value(), (minutes if minutes > 0 else None)

    def problem_text(self) -> str | None:
        """What stops the settings from working, in words (None when they work)."""
        messages = [m for m in (row.validate() for row in self.rows.values()) if m]
        if messages:
            return messages[0]
        try:
            self.settings()
        except UserError as exc:
            return str(exc)
        return None

    def _changed(self, *_args) -> None:
        if self._loading:
            return
        problem = self.problem_text() if self._editable else None
        rows_show = any(row.message.isVisible() for row in self.rows.values())
        self.problem.setText(problem or "")
        self.problem.setVisible(bool(problem) and not rows_show)
        if self._editable:
            for row in self.rows.values():
                row.field.setEnabled(row.check.isEnabled() and row.check.isChecked())
        self.changed.emit()
