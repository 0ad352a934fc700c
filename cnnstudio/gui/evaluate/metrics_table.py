"""Precision, recall, F1 and support per class, the averages, and a line that explains each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.evaluate.explanations import METRIC_EXPLANATIONS
from cnnstudio.gui.style import muted_color, warning_color

if TYPE_CHECKING:
    from cnnstudio.core.evaluate import EvaluationReport

# The table's own metrics, in core.evaluate's words (that module imports nothing heavy).
EXPLANATIONS = {
    key: METRIC_EXPLANATIONS[key]
    for key in ("accuracy", "precision", "recall", "f1", "support", "macro", "weighted")
}
COLUMNS = (
    ("Class", None),
    ("Precision", "precision"),
    ("Recall", "recall"),
    ("F1", "f1"),
    ("Pictures", "support"),
)
WEAK = 0.7  # a class below this F1 is marked, so the eye finds it in a long table


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


class MetricsTable(QWidget):
    """A table of the report's metrics; a class row clicked emits `class_clicked(index)`."""

    class_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        for i, (title, key) in enumerate(COLUMNS):
            item = QTableWidgetItem(title)
            if key:
                item.setToolTip(EXPLANATIONS[key])
            self.table.setHorizontalHeaderItem(i, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for i in range(1, len(COLUMNS)):
            header.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellClicked.connect(self._clicked)

        self.legend = QLabel(self, wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.legend.setText(
            "<br>".join(
                f"<b>{text.split(':', 1)[0]}</b>:{text.split(':', 1)[1]}"
                for key, text in EXPLANATIONS.items()
                if key != "accuracy"
            )
        )
        self.legend.setStyleSheet(f"color: {muted_color().name()}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.legend)
        self._rows = 0

    def set_report(self, report: EvaluationReport | None) -> None:
        table = self.table
        table.setRowCount(0)
        self._rows = 0
        if report is None:
            return
        per_class = report.per_class
        table.setRowCount(len(per_class) + 3)
        for r, row in enumerate(per_class):
            self._fill(r, row["class"], row, tooltip=f"{row['class']}: click to see its pictures.")
            if row["support"] and row["f1"] < WEAK:
                for c in range(len(COLUMNS)):
                    table.item(r, c).setForeground(QBrush(warning_color()))
        self._rows = len(per_class)
        n = report.num_samples
        bold = QFont(table.font())
        bold.setBold(True)
        base = len(per_class)
        self._fill(base, "Average, each class equal", {**report.macro, "support": n}, EXPLANATIONS["macro"])
        self._fill(
            base + 1,
            "Average, weighted by pictures",
            {**report.weighted, "support": n},
            EXPLANATIONS["weighted"],
        )
        accuracy = QTableWidgetItem("Accuracy")
        accuracy.setToolTip(EXPLANATIONS["accuracy"])
        table.setItem(base + 2, 0, accuracy)
        value = QTableWidgetItem(percent(report.accuracy))
        value.setToolTip(EXPLANATIONS["accuracy"])
        value.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        table.setItem(base + 2, 3, value)
        count = QTableWidgetItem(f"{n:,}")
        count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        table.setItem(base + 2, 4, count)
        for r in range(base, base + 3):
            for c in range(len(COLUMNS)):
                item = table.item(r, c)
                if item is None:
                    item = QTableWidgetItem("")
                    table.setItem(r, c, item)
                item.setFont(bold)

    def _fill(self, r: int, name: str, values: dict, tooltip: str) -> None:
        item = QTableWidgetItem(name)
        item.setToolTip(tooltip)
        self.table.setItem(r, 0, item)
        for c, (_title, key) in enumerate(COLUMNS[1:], start=1):
            text = f"{int(values[key]):,}" if key == "support" else percent(float(values[key]))
            cell = QTableWidgetItem(text)
            cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            cell.setToolTip(EXPLANATIONS[key])
            self.table.setItem(r, c, cell)

    def _clicked(self, row: int, _column: int) -> None:
        if row < self._rows:
            self.class_clicked.emit(row)
