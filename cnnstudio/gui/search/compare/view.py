"""Runs side by side: tick runs in the list; their settings (what differs highlighted), metrics (the
best of each row in bold), F1 per class, and curves overlaid (one colour per run).

    view = CompareView(session)         # lists the project's runs
    view.set_runs([run_a, run_b])       # ticks them and compares (in a worker: reading curves loads torch)
    view.show_comparison(comparison)    # or show a core.runs.compare.RunComparison made elsewhere
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.runs import CONFIG_FILE, STATE_FILE, read_json_object
from cnnstudio.gui.style import class_color, muted_color, warning_color
from cnnstudio.gui.widgets.plot import legend_below, themed_plot, x_range_for

if TYPE_CHECKING:
    from cnnstudio.core.runs.compare import RunComparison
    from cnnstudio.gui.session import ProjectSession
    from cnnstudio.gui.workers import TaskRunner

PATH_ROLE = Qt.ItemDataRole.UserRole + 1
MAX_CURVES = 10  # more runs than this: the first ten get curves (colours stay distinct)
COLUMN_MIN, COLUMN_MAX = 110, 260


def run_label(run_dir: Path) -> str:
    """'preview t3 — finished, 11-28 22:28' from the run's small files (no torch)."""
    from cnnstudio.core.runs import run_state, run_title

    config = read_json_object(run_dir / CONFIG_FILE)
    state = run_state(read_json_object(run_dir / STATE_FILE))
    created = str(config.get("created", ""))[5:16].replace("T", " ")
    return f"{run_title(run_dir, config)} — {state}" + (f", {created}" if created else "")


def _format(value: float | None, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "ratio":
        return f"{value:.1%}"
    if kind == "seconds":
        seconds = int(round(value))
        return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{value:.1f} s"
    if kind == "count":
        return f"{value:.0f}"
    return f"{value:.4g}" if value < 1000 else f"{value:,.0f}"


def _table() -> QTableWidget:
    table = QTableWidget()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().setDefaultSectionSize(22)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(False)
    table.setTextElideMode(Qt.TextElideMode.ElideRight)
    return table


def _fit_columns(table: QTableWidget) -> None:
    """Columns as wide as their contents, between COLUMN_MIN and COLUMN_MAX: runs side by side stay
    comparable, and one long value (the list of layers) is cut short (its tooltip has it whole)."""
    for col in range(table.columnCount()):
        wanted = max(table.sizeHintForColumn(col), table.horizontalHeader().sectionSizeHint(col)) + 12
        table.setColumnWidth(col, max(COLUMN_MIN, min(COLUMN_MAX, wanted)))


def _curve_plot(title: str, y_label: str) -> pg.PlotWidget:
    return themed_plot(title, "epoch", y_label, min_height=170)


class CompareView(QWidget):
    comparison_shown = Signal(object)  # RunComparison

    def __init__(
        self,
        session: ProjectSession | None = None,
        tasks: TaskRunner | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.session = session
        if tasks is None and session is not None:
            tasks = session.tasks
        if tasks is None:
            from cnnstudio.gui.workers import TaskRunner

            tasks = TaskRunner(self)
        self.tasks = tasks
        self.comparison: RunComparison | None = None
        self._task = None
        self._again = False
        self._timer = QTimer(self, singleShot=True, interval=250)
        self._timer.timeout.connect(self._compare_checked)
        self._build()
        if session is not None:
            session.project_changed.connect(lambda _p: self.reload_runs())
        self.reload_runs()

    # ---- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.run_list = QListWidget()
        self.run_list.itemChanged.connect(lambda _item: self._timer.start())
        self.run_list.setMinimumWidth(260)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("<b>Runs</b> — tick two or more"))
        left_layout.addWidget(self.run_list, 1)
        self.left = left

        self.title = QLabel("Tick runs on the left to compare them.")
        self.title.setWordWrap(True)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet(f"color: {warning_color().name()};")
        self.notes.hide()
        self.only_differences = QCheckBox("Only the settings that differ")
        self.only_differences.setChecked(True)
        self.only_differences.toggled.connect(lambda _on: self._fill_settings())
        self.settings_table = _table()
        self.metrics_table = _table()
        self.f1_table = _table()
        settings_page = QWidget()
        settings_layout = QVBoxLayout(settings_page)
        settings_layout.setContentsMargins(0, 4, 0, 0)
        settings_layout.addWidget(self.only_differences)
        settings_layout.addWidget(self.settings_table, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(settings_page, "Settings")
        self.tabs.addTab(self.metrics_table, "Metrics")
        self.tabs.addTab(self.f1_table, "F1 per class")

        self.accuracy_plot = _curve_plot("Accuracy (validation solid, training dashed)", "accuracy")
        self.loss_plot = _curve_plot("Loss (validation solid, training dashed)", "loss")
        self.accuracy_plot.setXLink(self.loss_plot)
        self.legend = legend_below(self.accuracy_plot, columns=1)  # under the chart, never over a curve
        curves = QWidget()
        curves_layout = QHBoxLayout(curves)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        curves_layout.addWidget(self.accuracy_plot)
        curves_layout.addWidget(self.loss_plot)

        right_split = QSplitter(Qt.Orientation.Vertical)
        right_split.addWidget(self.tabs)
        right_split.addWidget(curves)
        right_split.setStretchFactor(0, 3)
        right_split.setStretchFactor(1, 2)
        self.ensemble_button = QPushButton("Combine into an ensemble…")
        self.ensemble_button.setToolTip(
            "One model that averages these runs' answers: see how well it does, and save it."
        )
        self.ensemble_button.setEnabled(False)
        self.ensemble_button.clicked.connect(self.open_ensemble)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.ensemble_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(head)
        right_layout.addWidget(self.notes)
        right_layout.addWidget(right_split, 1)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([300, 1000])
        layout = QVBoxLayout(self)
        layout.addWidget(split)

    def show_run_list(self, shown: bool) -> None:
        self.left.setVisible(shown)

    # ---- the runs --------------------------------------------------------------------------------
    def reload_runs(self) -> None:
        """List the project's runs, newest first, keeping the ticks."""
        checked = set(self.checked_runs())
        project = self.session.project if self.session is not None else None
        runs = sorted(project.list_runs(), key=lambda p: p.name, reverse=True) if project is not None else []
        self.run_list.blockSignals(True)
        self.run_list.clear()
        for run in runs:
            item = QListWidgetItem(run_label(run))
            item.setToolTip(run.name)
            item.setData(PATH_ROLE, str(run))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if run in checked else Qt.CheckState.Unchecked)
            self.run_list.addItem(item)
        self.run_list.blockSignals(False)

    def section_shown(self) -> None:
        self.reload_runs()

    def checked_runs(self) -> list[Path]:
        out = []
        for i in range(self.run_list.count()):
            item = self.run_list.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(Path(item.data(PATH_ROLE)))
        return out

    def set_runs(self, runs: list[Path | str]) -> None:
        """Tick these runs (adding any the list lacks) and compare them."""
        wanted = [Path(r) for r in runs]
        listed = {Path(self.run_list.item(i).data(PATH_ROLE)) for i in range(self.run_list.count())}
        self.run_list.blockSignals(True)
        for run in wanted:
            if run not in listed:
                item = QListWidgetItem(run_label(run))
                item.setToolTip(run.name)
                item.setData(PATH_ROLE, str(run))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                self.run_list.insertItem(0, item)
        for i in range(self.run_list.count()):
            item = self.run_list.item(i)
            on = Path(item.data(PATH_ROLE)) in wanted
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.run_list.blockSignals(False)
        self._compare_checked()

    def _compare_checked(self) -> None:
        runs = sorted(self.checked_runs(), key=lambda p: p.name)  # oldest on the left, as they were made
        if not runs:
            self.title.setText("Tick runs on the left to compare them.")
            self.ensemble_button.setEnabled(False)
            return
        if self._task is not None:
            self._again = True
            return

        def job(_ctx):
            from cnnstudio.core.runs.compare import compare_runs

            return compare_runs(runs)

        def ended() -> None:
            self._task = None
            if self._again:
                self._again = False
                self._compare_checked()

        self.title.setText(f"Comparing {len(runs)} runs…")
        self._task = self.tasks.start(
            "Comparing runs", job, on_success=self.show_comparison, on_error=self._failed, quiet=True
        )
        self._task.done.connect(ended)

    def _failed(self, text: str) -> None:
        self.title.setText(text)

    # ---- showing ---------------------------------------------------------------------------------
    def show_comparison(self, comparison: RunComparison) -> None:
        self.comparison = comparison
        n = len(comparison.runs)
        differing = len(comparison.differing())
        what = f"{differing} setting{'s' if differing != 1 else ''} differ" if n > 1 else "one run"
        self.title.setText(f"<b>{n} run{'s' if n != 1 else ''}</b> — {what}.")
        self.notes.setText(" ".join(comparison.notes))
        self.notes.setVisible(bool(comparison.notes))
        self._fill_settings()
        self._fill_metrics()
        self._fill_f1()
        self._draw_curves()
        self.ensemble_button.setEnabled(self.session is not None and n >= 2)
        self.comparison_shown.emit(comparison)

    def open_ensemble(self) -> QDialog | None:
        """The ensemble of the compared runs, in a dialog of its own (evaluated at once)."""
        if self.comparison is None or self.session is None or len(self.comparison.runs) < 2:
            return None
        from cnnstudio.gui.search.compare.ensemble_dialog import EnsembleDialog

        dialog = EnsembleDialog(self.session, [r.path for r in self.comparison.runs], self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.ensemble_dialog = dialog
        return dialog

    def _headers(self, table: QTableWidget) -> None:
        c = self.comparison
        table.setColumnCount(len(c.runs))
        for i, run in enumerate(c.runs):
            item = QTableWidgetItem(f"● {run.title}")
            item.setForeground(QBrush(class_color(i)))
            item.setToolTip(f"{run.name}\n{run.state}, started {run.created}")
            table.setHorizontalHeaderItem(i, item)

    def _fill_settings(self) -> None:
        c = self.comparison
        if c is None:
            return
        table = self.settings_table
        rows = c.differing() if self.only_differences.isChecked() and len(c.runs) > 1 else c.settings
        table.clear()
        table.setRowCount(len(rows))
        self._headers(table)
        highlight = QColor(warning_color())
        highlight.setAlpha(45)
        bold = QFont()
        bold.setBold(True)
        for r, row in enumerate(rows):
            head = QTableWidgetItem(row.label)
            if row.differs:
                head.setFont(bold)
            table.setVerticalHeaderItem(r, head)
            for col, value in enumerate(row.values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                if row.differs and len(c.runs) > 1:
                    item.setBackground(QBrush(highlight))
                table.setItem(r, col, item)
        if not rows:
            table.setRowCount(1)
            table.setVerticalHeaderItem(0, QTableWidgetItem(""))
            table.setItem(0, 0, QTableWidgetItem("These runs were trained with the same settings."))
        _fit_columns(table)

    def _fill_metrics(self) -> None:
        c = self.comparison
        table = self.metrics_table
        table.clear()
        table.setRowCount(len(c.metrics))
        self._headers(table)
        bold = QFont()
        bold.setBold(True)
        for r, metric in enumerate(c.metrics):
            head = QTableWidgetItem(metric.label)
            if metric.higher_is_better is not None:
                head.setToolTip("Higher is better." if metric.higher_is_better else "Lower is better.")
            table.setVerticalHeaderItem(r, head)
            best = metric.best
            for col, value in enumerate(metric.values):
                item = QTableWidgetItem(_format(value, metric.kind))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if col == best:
                    item.setFont(bold)
                    item.setToolTip("The best of these runs.")
                if value is None:
                    item.setForeground(QBrush(muted_color()))
                table.setItem(r, col, item)
        _fit_columns(table)

    def _fill_f1(self) -> None:
        c = self.comparison
        table = self.f1_table
        table.clear()
        table.setRowCount(len(c.classes))
        self._headers(table)
        split = {"val": "validation", "test": "test"}.get(c.split or "", "")
        self.tabs.setTabText(2, f"F1 per class ({split})" if split else "F1 per class")
        bold = QFont()
        bold.setBold(True)
        for r, name in enumerate(c.classes):
            table.setVerticalHeaderItem(r, QTableWidgetItem(name))
            values = c.per_class_f1[name]
            known = [v for v in values if v is not None]
            top = max(known) if len(known) > 1 and len(set(known)) > 1 else None
            for col, value in enumerate(values):
                item = QTableWidgetItem(_format(value, "number") if value is not None else "–")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if top is not None and value == top:
                    item.setFont(bold)
                table.setItem(r, col, item)
        _fit_columns(table)

    def _draw_curves(self) -> None:
        c = self.comparison
        self.accuracy_plot.clear()
        self.loss_plot.clear()
        self.legend.clear()
        longest = max((len(curve["x"]) for curve in c.curves), default=0)
        for plot in (self.accuracy_plot, self.loss_plot):
            axis = plot.getPlotItem().getAxis("bottom")
            if longest <= 15:  # whole epochs only: "epoch 2.5" means nothing
                axis.setTickSpacing(1, 1)
            else:
                axis.setTickSpacing()
        for i, (run, curve) in enumerate(zip(c.runs[:MAX_CURVES], c.curves[:MAX_CURVES], strict=False)):
            color = class_color(i)
            name = run.title
            solid = pg.mkPen(color, width=2)
            dashed = pg.mkPen(color, width=1.2, style=Qt.PenStyle.DashLine)
            symbol = {"symbol": "o", "symbolSize": 5, "symbolPen": None, "symbolBrush": pg.mkBrush(color)}
            x = curve["x"]
            if any(v is not None for v in curve["val_accuracy"]):
                self.accuracy_plot.plot(x, _nan(curve["val_accuracy"]), pen=solid, name=name, **symbol)
            self.accuracy_plot.plot(x, _nan(curve["accuracy"]), pen=dashed)
            if any(v is not None for v in curve["val_loss"]):
                self.loss_plot.plot(x, _nan(curve["val_loss"]), pen=solid, **symbol)
            self.loss_plot.plot(x, _nan(curve["loss"]), pen=dashed)
        last = max((max(curve["x"], default=0) for curve in c.curves[:MAX_CURVES]), default=0)
        for plot in (self.accuracy_plot, self.loss_plot):  # the last epoch's dots whole, not cut
            plot.setXRange(*x_range_for(last), padding=0)


def _nan(values: list[float | None]) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


class CompareDialog(QDialog):
    """The comparison view in a window of its own, on the given runs."""

    def __init__(self, session: ProjectSession | None, runs: list[Path | str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Compare runs" if len(runs) != 1 else f"Run {Path(runs[0]).name}")
        self.view = CompareView(session, parent=self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.view)
        self.resize(1200, 780)
        self.view.set_runs(runs)
