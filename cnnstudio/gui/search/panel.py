"""The Search panel: settings on the left; on the right progress (trials done, best so far), the
sortable table of trials, plots of the metric against each setting and over time, and the actions
"Use the best settings", "Open this run" and "Compare".

    panel = SearchPanel(session)
    panel.start()          # a new search with the settings shown, or continue the chosen one
    panel.stop()           # stops the trial in training after its batch; finished trials are kept
    panel.use_best()       # the best trial's design and training settings become the project's

The panel holds the widgets and what they show; starting, continuing and stopping a search, reading
a study and applying the best trial are `panel.jobs`, a `SearchController` (controller.py). The search
runs as a task of the session's TaskRunner (core.search in a worker thread); its events (trial
started, epoch, trial finished) come back as partial results and update the table and plots.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelectionModel, QMetaMethod, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.errors import UserError
from cnnstudio.core.search.records import SearchEvent, TrialRecord
from cnnstudio.core.search.settings import SearchSettings
from cnnstudio.core.search.storage import list_studies, next_study_name, study_name_ok
from cnnstudio.gui.search.controller import NEW, SearchController, params_words
from cnnstudio.gui.search.plots import SearchPlots
from cnnstudio.gui.search.space_form import SearchForm
from cnnstudio.gui.search.trials_model import RECORD_ROLE, TrialsModel, TrialsProxy
from cnnstudio.gui.style import muted_color
from cnnstudio.gui.style.theme import error_color

if TYPE_CHECKING:
    from cnnstudio.gui.session import ProjectSession


class SearchPanel(QWidget):
    search_started = Signal(str)  # the study's name
    search_finished = Signal(object)  # SearchSummary, or None when it failed or was cancelled
    open_run_requested = Signal(Path)  # "Open this run"; without a receiver a run window opens
    best_settings_applied = Signal()  # the project's design and training settings changed

    def __init__(self, session: ProjectSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.tasks = session.tasks
        self.jobs = SearchController(self)
        self._study_info: dict[str, Any] | None = None  # spec, config, settings of the chosen study
        self._current: tuple[int, dict] | None = None
        self.dialogs: list[QWidget] = []
        self._build()
        session.project_changed.connect(self._project_changed)
        self._project_changed(session.project)

    # ---- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.study_choice = QComboBox()
        self.study_choice.setToolTip("A search is kept in the project: choose one to see it or continue it.")
        self.study_choice.currentIndexChanged.connect(self._study_chosen)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("a name for the new search")
        self.name_edit.textChanged.connect(self.update_buttons)
        self.form = SearchForm()
        self.form.changed.connect(self.update_buttons)
        self.kept_note = QLabel(
            "This search keeps the settings it was made with; Continue adds trials up to the number below."
        )
        self.kept_note.setWordWrap(True)
        self.kept_note.setStyleSheet(f"color: {muted_color().name()};")
        self.kept_note.hide()
        style = self.style()
        self.start_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "Start search"
        )
        self.start_button.setDefault(True)
        self.start_button.setMinimumHeight(32)
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaStop), "Stop")
        self.stop_button.setToolTip(
            "Stop the trial in training after its current batch; finished trials are kept."
        )
        self.stop_button.clicked.connect(self.stop)

        settings = QWidget()
        s_layout = QVBoxLayout(settings)
        s_layout.setContentsMargins(0, 0, 6, 0)
        choose = QHBoxLayout()
        choose.addWidget(QLabel("Search:"))
        choose.addWidget(self.study_choice, 1)
        s_layout.addLayout(choose)
        s_layout.addWidget(self.name_edit)
        s_layout.addWidget(self.kept_note)
        s_layout.addWidget(self.form)
        scroll = QScrollArea()
        scroll.setWidget(settings)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(settings.sizeHint().width() + 24)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.stop_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addLayout(buttons)

        self.headline = QLabel("Choose what to vary, then start the search.")
        self.headline.setWordWrap(True)
        font = self.headline.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.headline.setFont(font)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("%v of %m trials")
        self.progress.setValue(0)
        self.current = QLabel()
        self.current.setWordWrap(True)
        self.current.setStyleSheet(f"color: {muted_color().name()};")
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.hide()

        self.model = TrialsModel(self)
        self.proxy = TrialsProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(lambda _index: self.open_selected_run())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self.update_buttons())
        self.use_best_button = QPushButton("Use the best settings")
        self.use_best_button.setToolTip(
            "Make the best trial's design and training settings the project's own (Model and Train show them)."
        )
        self.use_best_button.clicked.connect(lambda: self.use_best())
        self.open_button = QPushButton("Open this run")
        self.open_button.setToolTip("The selected trial's run: its settings, metrics and curves.")
        self.open_button.clicked.connect(self.open_selected_run)
        self.compare_button = QPushButton("Compare selected")
        self.compare_button.setToolTip("Select two or more trials to see their runs side by side.")
        self.compare_button.clicked.connect(self.compare_selected)
        actions = QHBoxLayout()
        actions.addWidget(self.use_best_button)
        actions.addWidget(self.open_button)
        actions.addWidget(self.compare_button)
        actions.addStretch(1)
        table_box = QWidget()
        t_layout = QVBoxLayout(table_box)
        t_layout.setContentsMargins(0, 0, 0, 0)
        t_layout.addWidget(self.table, 1)
        t_layout.addLayout(actions)
        self.plots = SearchPlots()
        right_split = QSplitter(Qt.Orientation.Vertical)
        right_split.addWidget(table_box)
        right_split.addWidget(self.plots)
        right_split.setStretchFactor(0, 1)
        right_split.setStretchFactor(1, 1)
        right_split.setSizes([360, 400])
        right = QWidget()
        r_layout = QVBoxLayout(right)
        r_layout.setContentsMargins(6, 0, 0, 0)
        r_layout.addWidget(self.headline)
        r_layout.addWidget(self.progress)
        r_layout.addWidget(self.current)
        r_layout.addWidget(self.notice)
        r_layout.addWidget(right_split, 1)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([400, 960])
        layout = QVBoxLayout(self)
        layout.addWidget(split)

    # ---- state (the controller's) -----------------------------------------------------------------
    @property
    def state(self) -> str:
        return self.jobs.state

    @property
    def task(self):
        return self.jobs.task

    @property
    def last_summary(self):
        return self.jobs.last_summary

    @property
    def study_info(self) -> dict[str, Any] | None:
        return self._study_info

    def is_searching(self) -> bool:
        return self.jobs.is_searching()

    def chosen_study(self) -> str:
        return self.study_choice.currentData() or NEW

    def update_buttons(self) -> None:
        idle = self.state == "idle"
        new = self.chosen_study() == NEW
        has_project = self.session.project is not None
        problem = self.form.problem_text() if new else None
        name = self.name_edit.text().strip()
        existing = list_studies(self.session.project) if has_project else []
        name_ok = not new or (study_name_ok(name) and name not in existing)
        self.start_button.setText("Start search" if new else "Continue search")
        self.start_button.setEnabled(idle and has_project and problem is None and name_ok)
        if new and not name_ok and name:
            self.start_button.setToolTip(
                "Choose another name: letters, digits, '-', '_' or '.', not used yet."
            )
        else:
            self.start_button.setToolTip(problem or "")
        self.stop_button.setEnabled(self.state == "running")
        self.study_choice.setEnabled(idle)
        self.name_edit.setVisible(new)
        self.name_edit.setEnabled(idle)
        self.kept_note.setVisible(not new)
        self.form.setEnabled(idle)
        selected = self.selected_records()
        self.use_best_button.setEnabled(self.model.best() is not None and self._study_info is not None)
        self.open_button.setEnabled(len(selected) == 1 and selected[0].run is not None)
        self.compare_button.setEnabled(sum(1 for r in selected if r.run) >= 2)

    # ---- the project and its studies -------------------------------------------------------------
    def _project_changed(self, project) -> None:
        if self.is_searching():
            self.stop()
        self._fill_studies(select=None)

    def section_shown(self) -> None:
        if not self.is_searching():
            self._fill_studies(select=self.chosen_study() or None)

    def _fill_studies(self, select: str | None) -> None:
        project = self.session.project
        names = list_studies(project) if project is not None else []
        self.study_choice.blockSignals(True)
        self.study_choice.clear()
        self.study_choice.addItem("New search…", NEW)
        for name in names:
            self.study_choice.addItem(name, name)
        index = self.study_choice.findData(select) if select else (1 if names else 0)
        self.study_choice.setCurrentIndex(max(0, index))
        self.study_choice.blockSignals(False)
        self._study_chosen()

    def _study_chosen(self, *_args) -> None:
        name = self.chosen_study()
        project = self.session.project
        self._study_info = None
        self.model.set_records([])
        self.plots.set_records([])
        self.notice.hide()
        if project is None:
            self.headline.setText("Open a project to search for good training settings.")
            self.update_buttons()
            return
        if name == NEW:
            self.name_edit.setText(next_study_name(project))
            self.form.set_editable(True)
            self._set_design(project)
            self.headline.setText("Choose what to vary, then start the search.")
            self.progress.setMaximum(max(1, self.form.trials.value()))
            self.progress.setValue(0)
            self.current.setText("")
            self.set_study_columns(
                self.form.settings() if self.form.problem_text() is None else SearchSettings()
            )
            self.update_buttons()
            return
        self.headline.setText(f"Reading the search {name!r}…")
        self.load_study(name)

    def _set_design(self, project) -> None:
        """Grey out the settings the project's design has nothing for."""
        from cnnstudio.core.spec import ModelSpec, template

        try:
            spec = ModelSpec.from_dict(project.spec) if project.spec else template("seed")
        except UserError:
            spec = template("seed")
        types = {layer.type for layer in spec.layers}
        dense = [i for i, layer in enumerate(spec.layers) if layer.type == "Dense"]
        hidden = any(spec.layers[i].units != "auto" for i in dense[:-1])
        self.form.set_design(types, hidden)

    def load_study(self, name: str) -> None:
        """Read a study's settings and trials in a worker, then show it."""
        self.jobs.load_study(name)

    def show_study(self, info: dict[str, Any]) -> None:
        self._study_info = info
        settings: SearchSettings = info["settings"]
        self.form.set_settings(settings, editable=False)
        trials: list[TrialRecord] = info["trials"]
        done = sum(1 for t in trials if t.counts_as_done)
        if self.form.trials.value() <= done:
            self.form.trials.setValue(done + 10)
        self.set_study_columns(settings)
        self.model.set_records(trials)
        self.plots.set_records(trials)
        self.show_progress(trials)
        self.current.setText("")
        if info.get("notes"):
            self.show_notice(" ".join(info["notes"]))
        self.update_buttons()

    def set_study_columns(self, settings: SearchSettings) -> None:
        params = list(settings.space.params)
        logs = {p.name for p in settings.space.params.values() if p.is_range and p.log}
        self.model.set_study(settings.metric, params)
        self.plots.set_study(settings.metric, params, logs)

    def show_progress(self, trials: list[TrialRecord], target: int | None = None) -> None:
        done = sum(1 for t in trials if t.counts_as_done)
        target = target or max(done, self.form.trials.value())
        self.progress.setMaximum(max(1, target))
        self.progress.setValue(min(done, target))
        pruned = sum(1 for t in trials if t.state == "pruned")
        failed = sum(1 for t in trials if t.state == "failed")
        parts = [f"{done} trial{'s' if done != 1 else ''} done"]
        if pruned:
            parts.append(f"{pruned} stopped early")
        if failed:
            parts.append(f"{failed} failed")
        best = self.model.best()
        metric = self.model.metric
        if best is not None:
            parts.append(f"best so far: {metric.label.lower()} {best.value:.4g} (trial {best.number})")
        self.headline.setText(" · ".join(parts))

    # ---- running (see SearchController) --------------------------------------------------------
    def start(self) -> bool:
        """Start a new search with the settings shown, or continue the chosen one. False when it cannot."""
        return self.jobs.start()

    def stop(self) -> None:
        """Stop after the current batch of the trial in training; finished trials are kept."""
        self.jobs.stop()

    def stop_and_wait(self, timeout_s: float = 60) -> None:
        self.jobs.stop_and_wait(timeout_s)

    def show_event(self, event) -> None:
        if isinstance(event, dict):  # the study, opened: show what it holds so far
            self._study_info = event
            self._fill_studies_keep(event["name"])
            self.set_study_columns(event["settings"])
            self.model.set_records(event["trials"])
            self.plots.set_records(event["trials"])
            self.show_progress(event["trials"], self.jobs.target)
            if event.get("notes"):
                self.show_notice(" ".join(event["notes"]))
            return
        if not isinstance(event, SearchEvent):
            return
        if event.kind == "message":
            self.current.setText(event.text)
        elif event.kind == "trial_started":
            self._current = (event.trial, event.params)
            record = TrialRecord(event.trial, "running", None, dict(event.params))
            self.model.upsert(record)
            self.current.setText(f"Trial {event.trial}: {params_words(event.params)} — training…")
            self.table.resizeColumnToContents(1)  # "running…" is wider than the states before it
        elif event.kind == "epoch":
            self.model.set_live(event.trial, event.epoch, event.value)
            settings = self._study_info["settings"] if self._study_info else None
            epochs = f"/{settings.epochs}" if settings is not None else ""
            params = params_words(self._current[1]) if self._current else ""
            self.current.setText(
                f"Trial {event.trial}: {params} — epoch {event.epoch + 1}{epochs}, "
                f"{self.model.metric.label.lower()} {event.value:.4g}"
            )
        elif event.kind == "trial_finished":
            self.model.upsert(event.record)
            self.plots.set_records(self.model.records)
            self.show_progress(self.model.records, self.jobs.target)
        self.update_buttons()

    def _fill_studies_keep(self, name: str) -> None:
        if self.study_choice.findData(name) < 0:
            self.study_choice.blockSignals(True)
            self.study_choice.addItem(name, name)
            self.study_choice.setCurrentIndex(self.study_choice.findData(name))
            self.study_choice.blockSignals(False)
            self.form.set_editable(False)

    def show_notice(self, text: str, error: bool = False) -> None:
        color = error_color().name() if error else muted_color().name()
        self.notice.setStyleSheet(f"color: {color};")
        self.notice.setText(text)
        self.notice.show()

    def show_error(self, text: str) -> None:
        self.show_notice(text, error=True)
        self.headline.setText("")

    # ---- actions ---------------------------------------------------------------------------------
    def selected_records(self) -> list[TrialRecord]:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return [self.proxy.data(index, RECORD_ROLE) for index in rows]

    def select_trial(self, number: int) -> None:
        for row in range(self.proxy.rowCount()):
            record = self.proxy.data(self.proxy.index(row, 0), RECORD_ROLE)
            if record.number == number:
                self.table.selectionModel().select(
                    self.proxy.index(row, 0),
                    QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
                )
                self.table.scrollTo(self.proxy.index(row, 0))
                return

    def _run_dir(self, record: TrialRecord) -> Path | None:
        project = self.session.project
        if project is None or not record.run:
            return None
        return project.runs_dir / record.run

    def use_best(self, ask: bool = True) -> bool:
        """Make the best trial's design and training settings the project's (asks first)."""
        return self.jobs.use_best(ask)

    def open_selected_run(self) -> None:
        selected = [r for r in self.selected_records() if r.run]
        if len(selected) != 1:
            return
        run_dir = self._run_dir(selected[0])
        if run_dir is None:
            return
        if self.isSignalConnected(QMetaMethod.fromSignal(self.open_run_requested)):
            self.open_run_requested.emit(run_dir)
        else:
            self._open_compare([run_dir])

    def compare_selected(self) -> None:
        runs = [self._run_dir(r) for r in self.selected_records() if r.run]
        runs = [r for r in runs if r is not None]
        if len(runs) >= 2:
            self._open_compare(runs)

    def _open_compare(self, runs: list[Path]) -> None:
        from cnnstudio.gui.search.compare.view import CompareDialog

        dialog = CompareDialog(self.session, runs, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda *_: self.dialogs.remove(dialog) if dialog in self.dialogs else None)
        self.dialogs.append(dialog)
        dialog.show()
