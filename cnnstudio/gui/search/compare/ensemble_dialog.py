"""Combine the chosen runs into an ensemble: its scores next to each run's, its confusion matrix, and
"Save as…" a bundle or one ONNX graph (loaded back and checked like every export).

    dialog = EnsembleDialog(session, [run_a, run_b])   # evaluates at once, in a worker
    dialog.save("digits-ensemble.onnx")                # or the Save buttons (a file dialog)
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.gui.style import muted_color
from cnnstudio.gui.style.theme import error_color

if TYPE_CHECKING:
    from cnnstudio.gui.session import ProjectSession

COLUMNS = ("Weight", "Validation accuracy", "Validation macro F1", "Test accuracy", "Test macro F1")


def _table() -> QTableWidget:
    table = QTableWidget()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.verticalHeader().setDefaultSectionSize(22)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return table


def _cell(text: str, bold: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if bold:
        font = QFont()
        font.setBold(True)
        item.setFont(font)
    return item


class EnsembleDialog(QDialog):
    evaluated = Signal(object)  # {"ensemble", "arrays", "evaluations"}
    saved = Signal(object)  # ExportResult

    def __init__(self, session: ProjectSession, runs: list[Path | str], parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.runs = [Path(r) for r in runs]
        self.result: dict[str, Any] | None = None
        self._task = None
        self.setWindowTitle(f"Ensemble of {len(self.runs)} runs")
        intro = QLabel(
            "An ensemble answers with the weighted average of its runs' probabilities. By default the weights "
            "are chosen on the validation pictures (greedy selection): the ensemble is never worse there than "
            "its best run, and a run that does not help gets weight 0. Judge it on the test pictures, which "
            "played no part in the weights."
        )
        intro.setWordWrap(True)
        self.weighting = QComboBox()
        self.weighting.addItem("Chosen on the validation pictures", "greedy")
        self.weighting.addItem("Weighted by validation accuracy", "accuracy")
        self.weighting.addItem("Equal weights", "equal")
        self.weighting.currentIndexChanged.connect(lambda _i: self.evaluate())
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.scores = _table()
        self.confusion_title = QLabel()
        self.confusion = _table()
        self.save_bundle = QPushButton("Save as bundle…")
        self.save_bundle.setToolTip("A .cnnmodel file the Predict section and `cnnstudio predict` can open.")
        self.save_bundle.clicked.connect(lambda: self._ask_save("bundle"))
        self.save_onnx = QPushButton("Save as ONNX…")
        self.save_onnx.setToolTip("One ONNX graph that averages the runs; for use outside CNN Studio.")
        self.save_onnx.clicked.connect(lambda: self._ask_save("onnx"))
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        top = QHBoxLayout()
        top.addWidget(QLabel("Weights:"))
        top.addWidget(self.weighting)
        top.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_bundle)
        buttons.addWidget(self.save_onnx)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(top)
        layout.addWidget(self.scores)
        layout.addWidget(self.confusion_title)
        layout.addWidget(self.confusion, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.resize(860, 640)
        self.evaluate()

    def _busy(self, busy: bool, text: str = "") -> None:
        if not busy:
            # The task's result has arrived: the dialog is free for the next job now, not only once the
            # task's `done` signal follows (a save asked for in between was silently ignored).
            self._task = None
        for widget in (self.weighting, self.save_bundle, self.save_onnx):
            widget.setEnabled(not busy)
        self._say(text)

    def _say(self, text: str, error: bool = False) -> None:
        color = error_color() if error else muted_color()
        self.status.setStyleSheet(f"color: {color.name()};")
        self.status.setText(text)

    def evaluate(self) -> None:
        project = self.session.project
        if project is None or self._task is not None:
            return
        method = str(self.weighting.currentData())
        runs = list(self.runs)
        project = project.snapshot()  # the worker indexes it; the app goes on editing the live one

        def job(_ctx):
            from cnnstudio.core.ensemble import (
                ensemble_arrays,
                evaluate_ensemble,
                has_validation,
                load_ensemble,
                weigh_members,
            )

            ensemble = load_ensemble(project, runs)
            arrays = ensemble_arrays(project, ensemble)
            weigh_members(
                ensemble, arrays, method if has_validation(arrays) or method == "equal" else "equal"
            )
            first = arrays[ensemble.members[0].decode_key]
            evaluations = {
                split: evaluate_ensemble(project, ensemble, split, arrays)
                for split in ("val", "test")
                if len(first[split].y)
            }
            return {"ensemble": ensemble, "arrays": arrays, "evaluations": evaluations}

        self._busy(True, "Evaluating the ensemble and each run…")
        self._task = self.session.tasks.start(
            "Evaluating an ensemble", job, on_success=self._show, on_error=self._failed, quiet=True
        )
        self._task.done.connect(partial(self._ended, self._task))

    def _ended(self, task) -> None:
        if self._task is task:
            self._task = None

    def _failed(self, text: str) -> None:
        self._busy(False)
        self.save_bundle.setEnabled(False)
        self.save_onnx.setEnabled(False)
        self._say(text, error=True)

    def _show(self, result: dict[str, Any]) -> None:
        self._task = None
        self.result = result
        ensemble, evaluations = result["ensemble"], result["evaluations"]
        self._busy(False, "")
        table = self.scores
        table.clear()
        table.setColumnCount(len(COLUMNS))
        table.setHorizontalHeaderLabels(list(COLUMNS))
        names = ["Ensemble", *ensemble.names]
        table.setRowCount(len(names))
        weights = [1.0, *ensemble.weights]
        for row, name in enumerate(names):
            head = QTableWidgetItem(name)
            if row == 0:
                font = QFont()
                font.setBold(True)
                head.setFont(font)
            table.setVerticalHeaderItem(row, head)
            table.setItem(row, 0, _cell("" if row == 0 else f"{weights[row]:.2f}"))
            for col, (split, key) in enumerate(
                (("val", "accuracy"), ("val", "f1"), ("test", "accuracy"), ("test", "f1")), start=1
            ):
                evaluation = evaluations.get(split)
                if evaluation is None:
                    table.setItem(row, col, _cell("–"))
                    continue
                report = evaluation.report if row == 0 else evaluation.members[name]
                value = report.accuracy if key == "accuracy" else report.macro["f1"]
                table.setItem(row, col, _cell(f"{value:.1%}", bold=row == 0))
        table.resizeColumnsToContents()
        height = table.horizontalHeader().height() + sum(table.rowHeight(r) for r in range(table.rowCount()))
        table.setFixedHeight(height + 2 * table.frameWidth() + 2)  # no empty rows under the runs
        shown = evaluations.get("test") or evaluations.get("val")
        self._show_confusion(shown.report)
        best_member = max(shown.members.values(), key=lambda r: r.accuracy)
        words = "test" if "test" in evaluations else "validation"
        diff = shown.report.accuracy - best_member.accuracy
        compared = f"{abs(diff):.1%} {'better than' if diff > 0 else 'worse than'}" if diff else "as good as"
        self._say(
            f"On the {words} pictures the ensemble is {compared} its best run. "
            f"How the runs count: {ensemble.describe_weighting()}"
            + ("; a run at 0.00 did not help and is not used." if 0 in ensemble.weights else ".")
        )
        try:
            ensemble.check_exportable()
        except Exception as exc:  # noqa: BLE001 - a UserError in words
            self.save_bundle.setEnabled(False)
            self.save_onnx.setEnabled(False)
            self._say(str(exc), error=True)
        self.evaluated.emit(result)

    def _show_confusion(self, report) -> None:
        names = report.class_names
        words = "test" if report.split == "test" else "validation"
        self.confusion_title.setText(
            f"<b>The ensemble's confusion matrix</b> ({words} pictures: rows the real class, columns its answer)"
        )
        table = self.confusion
        table.clear()
        table.setRowCount(len(names))
        table.setColumnCount(len(names))
        table.setHorizontalHeaderLabels(names)
        table.setVerticalHeaderLabels(names)
        peak = max(1, int(report.confusion.max()))
        for r in range(len(names)):
            for c in range(len(names)):
                count = int(report.confusion[r, c])
                item = _cell(str(count), bold=r == c)
                if count:
                    color = QColor("#4e79a7" if r == c else "#e15759")
                    color.setAlpha(40 + int(150 * count / peak))
                    item.setBackground(QBrush(color))
                table.setItem(r, c, item)

    # ---- saving ----------------------------------------------------------------------------------
    def _ask_save(self, fmt: str) -> None:
        project = self.session.project
        suffix = ".onnx" if fmt == "onnx" else ".cnnmodel"
        start = str((project.folder if project is not None else Path.home()) / f"ensemble{suffix}")
        kind = "ONNX model (*.onnx)" if fmt == "onnx" else "CNN Studio model (*.cnnmodel)"
        path, _ = QFileDialog.getSaveFileName(self, "Save the ensemble", start, kind)
        if path:
            self.save(path, fmt)

    def save(self, path: Path | str, fmt: str | None = None) -> None:
        """Write, load back and check the ensemble in a worker; the status line says how it went."""
        if self.result is None or self._task is not None:
            return
        result, project = self.result, self.session.project

        def job(_ctx):
            from cnnstudio.core.ensemble import export_ensemble

            return export_ensemble(
                project,
                result["ensemble"],
                path,
                fmt=fmt,
                arrays=result["arrays"],
                evaluations=result["evaluations"],
            )

        def done(export) -> None:
            self._task = None  # before `saved`: a listener may start the next job at once
            self._busy(False)
            self._say(f"Saved {export.path.name}: {export.message}.")
            self.saved.emit(export)

        self._busy(True, f"Saving and checking {Path(path).name}…")
        self._task = self.session.tasks.start(
            "Saving an ensemble", job, on_success=done, on_error=lambda text: self._failed_save(text)
        )
        self._task.done.connect(partial(self._ended, self._task))

    def _failed_save(self, text: str) -> None:
        self._busy(False)
        self._say(text, error=True)
