"""The trials of a search as a sortable table: number, state, the metric, each setting, epochs, time.

Rows are TrialRecords (core.search). Sorting uses the raw values (SORT_ROLE), so numbers sort as
numbers and trials without a value go last; the best finished trial is shown in bold.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QFont

from cnnstudio.core.search.records import TrialRecord
from cnnstudio.core.search.settings import METRICS
from cnnstudio.core.search.space import PARAMS
from cnnstudio.gui.style import muted_color, warning_color
from cnnstudio.gui.style.theme import error_color

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
RECORD_ROLE = Qt.ItemDataRole.UserRole + 2
SHORT_STATES = {
    "complete": "finished",
    "pruned": "pruned",
    "failed": "failed",
    "interrupted": "interrupted",
    "running": "running…",
    "waiting": "waiting",
}


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != 0 and (abs(value) < 0.01 or abs(value) >= 1e5):
            return f"{value:.2e}"
        return f"{value:.4g}"
    return str(value)


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


class TrialsModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.records: list[TrialRecord] = []
        self.params: list[str] = []
        self.metric = METRICS["val_accuracy"]
        self.best_number: int | None = None
        self.live: dict[int, tuple[int, float]] = {}  # trial -> (epoch, value) while it trains

    # ---- filling ---------------------------------------------------------------------------------
    def set_study(self, metric: str, params: list[str]) -> None:
        self.beginResetModel()
        self.metric = METRICS[metric]
        self.params = list(params)
        self.records = []
        self.live = {}
        self.best_number = None
        self.endResetModel()

    def set_records(self, records: list[TrialRecord]) -> None:
        self.beginResetModel()
        self.records = list(records)
        self.live = {}
        self._find_best()
        self.endResetModel()

    def upsert(self, record: TrialRecord) -> None:
        """Add a trial or replace the row of the same number."""
        for row, old in enumerate(self.records):
            if old.number == record.number:
                self.records[row] = record
                if record.state != "running":
                    self.live.pop(record.number, None)
                self._find_best()
                self.dataChanged.emit(
                    self.index(0, 0), self.index(self.rowCount() - 1, self.columnCount() - 1)
                )
                return
        self.beginInsertRows(QModelIndex(), len(self.records), len(self.records))
        self.records.append(record)
        self.endInsertRows()
        self._find_best()

    def set_live(self, number: int, epoch: int, value: float) -> None:
        self.live[number] = (epoch, value)
        for row, record in enumerate(self.records):
            if record.number == number:
                record.epochs_done = epoch + 1
                record.intermediate[epoch + 1] = value
                self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))

    def _find_best(self) -> None:
        done = [r for r in self.records if r.state == "complete" and r.value is not None]
        if not done:
            self.best_number = None
            return
        pick = max if self.metric.higher_is_better else min
        self.best_number = pick(done, key=lambda r: r.value).number

    def best(self) -> TrialRecord | None:
        return next((r for r in self.records if r.number == self.best_number), None)

    # ---- Qt --------------------------------------------------------------------------------------
    def columns(self) -> list[str]:
        return [
            "Trial",
            "State",
            self.metric.label,
            *[PARAMS[p].label for p in self.params],
            "Epochs",
            "Time",
        ]

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.params) + 5

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns()[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole and section == 2:
            better = "higher" if self.metric.higher_is_better else "lower"
            return f"{self.metric.label} of the trial's best epoch ({better} is better)."
        return None

    def _raw(self, record: TrialRecord, column: int) -> Any:
        if column == 0:
            return record.number
        if column == 1:
            return record.state
        if column == 2:
            return record.value
        if column < 3 + len(self.params):
            return record.params.get(self.params[column - 3])
        if column == 3 + len(self.params):
            return record.epochs_done
        return record.seconds

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        record = self.records[index.row()]
        column = index.column()
        raw = self._raw(record, column)
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 1:
                return SHORT_STATES.get(record.state, record.state)
            if column == 2 and raw is None:
                last = record.last_value
                return f"({format_value(last)})" if last is not None else ""
            if column == 2 + len(self.params) + 2:
                return format_seconds(raw)
            return format_value(raw)
        if role == SORT_ROLE:
            if column == 2:
                value = record.value
                if value is None:  # no value: last, whichever way the column sorts
                    return -math.inf if self.metric.higher_is_better else math.inf
                return value
            return raw if raw is not None else ""
        if role == RECORD_ROLE:
            return record
        if role == Qt.ItemDataRole.FontRole and record.number == self.best_number:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole:
            if record.state == "failed" and column == 1:
                return QBrush(error_color())
            if record.state in ("pruned", "interrupted", "waiting"):
                return QBrush(muted_color())
            if record.state == "running" and column == 1:
                return QBrush(warning_color())
        if role == Qt.ItemDataRole.ToolTipRole:
            if record.message:
                return record.message
            if column == 2 and record.value is None and record.last_value is not None:
                return "The value after the last epoch it trained (it did not finish)."
        if role == Qt.ItemDataRole.TextAlignmentRole and column != 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class TrialsProxy(QSortFilterProxyModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)

    def lessThan(self, left, right) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        try:
            return a < b
        except TypeError:  # numbers against text (a setting with mixed kinds): compare as text
            return str(a) < str(b)
