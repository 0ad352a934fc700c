"""The run history: every run of the project, newest first; select several to compare their curves;
resume an interrupted run, continue a finished one, or fine-tune a new run from one.

Run folders are read in quiet background tasks (a long run's metrics file takes a while to parse,
and the parsing goes through core.train, which imports torch); requests made while one is being read
are merged into one more read.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.runs import RunRecord, list_runs, load_run, read_curves
from cnnstudio.gui.style import muted_color, warning_color
from cnnstudio.gui.style.theme import error_color
from cnnstudio.gui.workers import TaskRunner

COLUMNS = ["Run", "Date", "State", "Validation accuracy", "Epochs", "Settings"]


class RunHistory(QWidget):
    selection_changed = Signal(list)  # [RunRecord]
    resume_requested = Signal(object)  # RunRecord
    continue_requested = Signal(object)
    fine_tune_requested = Signal(object)
    curves_loaded = Signal(list)  # [(run name, read_curves(run))] of the selected runs

    def __init__(self, tasks: TaskRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.tasks = tasks
        self.records: list[RunRecord] = []
        self.busy = False  # a run is training: no second one can start
        self.live: Path | None = None  # the run training now: its curves are drawn live, not overlaid
        # The live run's epochs done as training reports them: its state.json is read back only every
        # few seconds, so the row would lag the progress bar ("2 of 20" beside "Epoch 5 of 20").
        self.live_epochs = 0
        self.paused = False  # the live run is paused
        self._reading: dict[str, object] = {}  # "list" / "curves" -> the task reading now
        self._again: dict[str, object] = {}  # what to read once that task ends
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.headerItem().setToolTip(
            3,
            "The validation accuracy of the model the run keeps (its best epoch): the same number "
            "Evaluate shows on the validation pictures. In brackets: how many validation pictures graded "
            "it; they are labelled by people (suggestions accepted in bulk only train).",
        )
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setStretchLastSection(True)
        for col in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.tree.itemDoubleClicked.connect(lambda _item, _col: self._default_action())
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._menu)

        self.title = QLabel("<b>Runs</b>")
        self.hint = QLabel("Select several runs to compare their curves.")
        self.hint.setStyleSheet(f"color: {muted_color().name()};")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue an interrupted run from its last checkpoint.")
        self.continue_button = QPushButton("Train more epochs…")
        self.continue_button.setToolTip("Continue a finished run for more epochs.")
        self.fine_tune_button = QPushButton("Fine-tune from this run…")
        self.fine_tune_button.setToolTip(
            "Start a new run from this run's best model, choosing which layers keep their weights."
        )
        self.resume_button.clicked.connect(lambda: self._emit(self.resume_requested))
        self.continue_button.clicked.connect(lambda: self._emit(self.continue_requested))
        self.fine_tune_button.clicked.connect(lambda: self._emit(self.fine_tune_requested))

        # The hint wraps and the buttons sit below it: the row fits the narrow right side at 1000 x 700.
        self.hint.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addWidget(self.hint, 1)
        buttons = QHBoxLayout()
        for button in (self.resume_button, self.continue_button, self.fine_tune_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(buttons)
        layout.addWidget(self.tree, 1)
        self._update_buttons()

    # ---- reading in the background -----------------------------------------------------------------
    def _read(self, kind: str, job, on_success) -> None:
        if kind in self._reading:
            self._again[kind] = (job, on_success)
            return

        def ended() -> None:
            self._reading.pop(kind, None)
            again = self._again.pop(kind, None)
            if again is not None:
                self._read(kind, *again)

        task = self.tasks.start(
            "Reading the run history", lambda _ctx: job(), on_success=on_success, quiet=True
        )
        self._reading[kind] = task
        task.done.connect(ended)

    def reload(self, runs_dir: Path | None) -> None:
        """Read every run of `runs_dir` again (None: no project, no runs)."""
        if runs_dir is None:
            self.set_runs([])
            return
        live = {self.live} if self.live is not None else set()
        self._read("list", lambda: list_runs(runs_dir, live), self.set_runs)

    def reload_run(self, run: Path) -> None:
        """Read one run again (the live one, while it trains): cheaper than the whole list."""
        if self.record(run.name) is None:
            self.reload(run.parent)
            return

        def loaded(record: RunRecord | None) -> None:
            if record is not None and self.record(record.name) is not None:
                self.set_runs([record if r.name == record.name else r for r in self.records])

        self._read("list", lambda: load_run(run, {run}), loaded)

    def set_paused(self, paused: bool) -> None:
        """The live run is paused: its State says so (state.json still says "running")."""
        if paused == self.paused:
            return
        self.paused = paused
        self._show_live_state()

    def _epochs_done(self, record: RunRecord) -> int:
        live = record.path == self.live and record.state == "running"
        return max(record.epochs_done, self.live_epochs) if live else record.epochs_done

    def set_live_epochs(self, done: int) -> None:
        """The live run has `done` epochs (its row says so at once)."""
        self.live_epochs = done
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            record = self.record(item.data(0, Qt.ItemDataRole.UserRole))
            if record is not None and record.path == self.live:
                item.setText(4, f"{self._epochs_done(record)} of {record.epochs}")

    def _show_live_state(self) -> None:
        if self.live is None:
            return
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            record = self.record(item.data(0, Qt.ItemDataRole.UserRole))
            if record is not None and record.path == self.live and record.state == "running":
                item.setText(2, "paused" if self.paused else record.display_state)

    def _load_curves(self) -> None:
        wanted = [(r.name, r.path) for r in self.selected() if r.path != self.live]
        self._read(
            "curves", lambda: [(name, read_curves(path)) for name, path in wanted], self.curves_loaded.emit
        )

    # ---- content -------------------------------------------------------------------------------
    def set_runs(self, records: list[RunRecord]) -> None:
        selected = {r.name for r in self.selected()}
        self.records = list(records)
        self.tree.blockSignals(True)
        try:
            self.tree.clear()
            for record in self.records:
                item = QTreeWidgetItem(
                    [
                        record.name,
                        record.created,
                        record.display_state,
                        _accuracy_text(record),
                        f"{self._epochs_done(record)} of {record.epochs}",
                        record.summary,
                    ]
                )
                item.setData(0, Qt.ItemDataRole.UserRole, record.name)
                item.setToolTip(2, record.message or record.display_state)
                item.setToolTip(5, f"{record.summary}\nPrecision: {record.precision}")
                if record.graded_text:
                    item.setToolTip(3, record.graded_text)
                color = {
                    "crashed": error_color(),
                    "interrupted": warning_color(),
                    "pruned": warning_color(),
                    "stopped": warning_color(),
                }.get(record.state)
                if color is not None:
                    item.setForeground(2, QBrush(color))
                if record.state == "running":
                    font = item.font(0)
                    font.setBold(True)
                    for col in range(len(COLUMNS)):
                        item.setFont(col, font)
                self.tree.addTopLevelItem(item)
                item.setSelected(record.name in selected)
        finally:
            self.tree.blockSignals(False)
        self._show_live_state()
        self._selection_changed()
        self.hint.setText(
            "No runs yet: press Start to train the first one."
            if not self.records
            else "Select several runs to compare their curves."
        )

    def record(self, name: str) -> RunRecord | None:
        return next((r for r in self.records if r.name == name), None)

    def selected(self) -> list[RunRecord]:
        names = [item.data(0, Qt.ItemDataRole.UserRole) for item in self.tree.selectedItems()]
        return [r for r in self.records if r.name in names]

    def select(self, names: list[str]) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            item.setSelected(item.data(0, Qt.ItemDataRole.UserRole) in names)

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self._update_buttons()

    # ---- actions -------------------------------------------------------------------------------
    def _current(self) -> RunRecord | None:
        selected = self.selected()
        return selected[0] if len(selected) == 1 else None

    def _emit(self, signal) -> None:
        record = self._current()
        if record is not None:
            signal.emit(record)

    def _default_action(self) -> None:
        record = self._current()
        if record is None or self.busy:
            return
        if record.can_resume:
            self.resume_requested.emit(record)

    def _menu(self, pos) -> None:
        record = self._current()
        if record is None:
            return
        menu = QMenu(self)
        for text, signal, enabled in (
            ("Resume", self.resume_requested, record.can_resume),
            ("Train more epochs…", self.continue_requested, record.can_continue),
            ("Fine-tune from this run…", self.fine_tune_requested, record.can_fine_tune),
        ):
            action = menu.addAction(text, lambda s=signal: s.emit(record))
            action.setEnabled(enabled and not self.busy)
        menu.exec(self.tree.viewport().mapToGlobal(pos))

    def _selection_changed(self) -> None:
        self._update_buttons()
        self.selection_changed.emit(self.selected())
        self._load_curves()

    def _update_buttons(self) -> None:
        record = self._current()
        free = not self.busy and record is not None
        self.resume_button.setEnabled(free and record.can_resume)
        self.continue_button.setEnabled(free and record.can_continue)
        self.fine_tune_button.setEnabled(free and record.can_fine_tune)


def _accuracy_text(record: RunRecord) -> str:
    """ "80.5% (41 by people)": the kept model's validation accuracy and who graded it."""
    if record.best_val_accuracy is None:
        return "–"
    text = f"{record.best_val_accuracy:.1%}"
    if record.graded is None:
        return text
    if record.graded_by_people:
        return f"{text} ({record.graded:,} by people)"
    if record.graded_by_people is None:
        return f"{text} ({record.graded:,})"
    return f"{text} ({record.graded:,}, with suggestions)"
