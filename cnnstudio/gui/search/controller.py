"""The Search section's job control: reading a study, starting, continuing and stopping a search,
and applying the best trial's settings to the project, apart from the panel's widgets.

    jobs = SearchController(panel)   # the panel creates it; panel.jobs
    jobs.load_study(name)            # reads a study in a worker, then panel.show_study(info)
    jobs.start()                     # a new search with the panel's settings, or continue the chosen one
    jobs.stop(); jobs.stop_and_wait(timeout_s)
    jobs.use_best(ask=True)          # the best trial's design and training settings become the project's

The search runs as a task of the session's TaskRunner (core.search in a worker thread); its events
(study opened, trial started, epoch, trial finished) go to `panel.show_event`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

from cnnstudio.core.errors import UserError
from cnnstudio.core.search.storage import study_name_ok
from cnnstudio.gui.search.trials_model import format_value

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QLabel, QLineEdit, QProgressBar

    from cnnstudio.core.search.records import TrialRecord
    from cnnstudio.core.search.settings import SearchSettings
    from cnnstudio.gui.search.plots import SearchPlots
    from cnnstudio.gui.search.space_form import SearchForm
    from cnnstudio.gui.search.trials_model import TrialsModel
    from cnnstudio.gui.session import ProjectSession

NEW = ""  # the study chooser's "New search" item


def params_words(params: dict[str, Any]) -> str:
    from cnnstudio.core.search.space import PARAMS

    parts = []
    for name, value in params.items():
        label = PARAMS[name].label.lower() if name in PARAMS else name
        parts.append(f"{label} {format_value(value)}")
    return ", ".join(parts)


def study_info(search, name: str) -> dict[str, Any]:
    """What the panel shows of an opened study: its design, settings, trials and notes."""
    return {
        "name": name,
        "spec": search.spec,
        "config": search.config,
        "settings": search.settings,
        "trials": search.trials(),
        "notes": search.notes,
    }


@runtime_checkable
class SearchView(Protocol):
    """What the controller uses of its widget (SearchPanel, a QWidget: also the parent of the
    controller and of its dialogs). Named here so the controller need not import the panel, which
    imports the controller; tests/gui/test_view_protocols.py checks the real panel has all of it."""

    session: ProjectSession
    form: SearchForm
    model: TrialsModel
    plots: SearchPlots
    name_edit: QLineEdit
    progress: QProgressBar
    current: QLabel
    notice: QLabel
    search_started: SignalInstance  # the study's name
    search_finished: SignalInstance  # SearchSummary, or None
    best_settings_applied: SignalInstance

    @property
    def study_info(self) -> dict[str, Any] | None: ...
    def chosen_study(self) -> str: ...
    def update_buttons(self) -> None: ...
    def show_study(self, info: dict[str, Any]) -> None: ...
    def set_study_columns(self, settings: SearchSettings) -> None: ...
    def show_progress(self, trials: list[TrialRecord], target: int | None = None) -> None: ...
    def show_event(self, event) -> None: ...
    def show_notice(self, text: str, error: bool = False) -> None: ...
    def show_error(self, text: str) -> None: ...


class SearchController(QObject):
    def __init__(self, panel: SearchView):
        super().__init__(panel)
        self.panel = panel
        self.session = panel.session
        self.tasks = panel.session.tasks
        self.task = None
        self.search = None  # the running core Search (set in the worker thread)
        self.state = "idle"  # idle | running | stopping
        self.load_task = None
        self.target = 0
        self.last_summary = None

    def is_searching(self) -> bool:
        return self.state != "idle"

    def set_state(self, state: str) -> None:
        self.state = state
        self.panel.update_buttons()

    def load_study(self, name: str) -> None:
        """Read a study's settings and trials in a worker (opening it loads Optuna and torch)."""
        project = self.session.project
        panel = self.panel

        def job(_ctx):
            from cnnstudio.core.search import Search

            search = Search.open(project, name)
            try:
                return study_info(search, name)
            finally:
                search.close()

        def loaded(info: dict[str, Any]) -> None:
            if panel.chosen_study() != info["name"] or self.is_searching():
                return
            panel.show_study(info)

        self.load_task = self.tasks.start(
            f"Reading the search {name}", job, on_success=loaded, on_error=panel.show_error, quiet=True
        )

    # ---- running ---------------------------------------------------------------------------------
    def start(self) -> bool:
        """Start a new search with the settings shown, or continue the chosen one. False when it cannot."""
        panel = self.panel
        project = self.session.project
        if project is None or self.is_searching():
            return False
        name = panel.chosen_study()
        settings = None
        if name == NEW:
            name = panel.name_edit.text().strip()
            try:
                settings = panel.form.settings()
            except UserError as exc:
                panel.show_error(str(exc))
                return False
            if not study_name_ok(name):
                panel.show_error("Give the search a name: letters, digits, '-', '_' or '.'.")
                return False
            panel.set_study_columns(settings)
            panel.model.set_records([])
            panel.plots.set_records([])
        trials, minutes = panel.form.budget()
        self.target = trials
        panel.notice.hide()
        panel.current.setText("Starting…")
        panel.progress.setMaximum(trials)

        def job(ctx):
            from cnnstudio.core.search import Search

            search = Search.open(project, name, settings=settings)
            self.search = search
            try:
                ctx.partial(study_info(search, name))
                return search.run(
                    trials=trials, minutes=minutes, on_event=ctx.partial, should_stop=ctx.should_stop
                )
            finally:
                self.search = None
                search.close()

        self.task = self.tasks.start(
            f"Searching ({name})",
            job,
            on_success=self._finished,
            on_error=self._failed,
            on_partial=panel.show_event,
        )
        self.task.cancelled.connect(lambda: self._finished(None))
        self.set_state("running")
        panel.search_started.emit(name)
        return True

    def stop(self) -> None:
        """Stop after the current batch of the trial in training; finished trials are kept."""
        if self.state != "running":
            return
        search = self.search
        if search is not None:
            search.stop()
        elif self.task is not None:
            self.task.cancel()
        self.panel.current.setText("Stopping after the current batch…")
        self.set_state("stopping")

    def stop_and_wait(self, timeout_s: float = 60) -> None:
        self.stop()
        if self.task is not None:
            self.task.wait(int(timeout_s * 1000))

    def _finished(self, summary) -> None:
        if self.task is None:
            return
        panel = self.panel
        self.task = None
        self.last_summary = summary
        self.set_state("idle")
        panel.current.setText("")
        if summary is not None:
            panel.model.set_records(summary.trials)
            panel.plots.set_records(summary.trials)
            panel.show_progress(summary.trials, self.target)
            panel.show_notice(_ending(summary), error=False)
        else:
            panel.show_notice("The search was stopped; its finished trials are kept.", error=False)
            name = panel.chosen_study()
            if name != NEW:
                self.load_study(name)
        panel.search_finished.emit(summary)

    def _failed(self, text: str) -> None:
        panel = self.panel
        self.task = None
        self.set_state("idle")
        panel.current.setText("")
        panel.show_notice(text, error=True)
        name = panel.chosen_study()
        if name != NEW:
            self.load_study(name)
        panel.search_finished.emit(None)

    # ---- the best trial --------------------------------------------------------------------------
    def use_best(self, ask: bool = True) -> bool:
        """Make the best trial's design and training settings the project's (asks first)."""
        from cnnstudio.core.search.trial import trial_settings

        panel = self.panel
        best = panel.model.best()
        project = self.session.project
        info = panel.study_info
        if best is None or info is None or project is None:
            return False
        spec, config = trial_settings(info["spec"], info["config"], info["settings"], best.params)
        if ask:
            answer = QMessageBox.question(
                panel,
                "Use the best settings",
                f"Make trial {best.number}'s settings the project's own?\n\n{params_words(best.params)}, "
                f"{config.epochs} epochs.\n\nThe model design and the training settings are replaced "
                "(the search and its runs stay as they are).",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        project.spec = spec.to_dict()
        project.train_config = config.to_dict()
        self.session.save()
        self.session.message.emit(
            f"The best settings of the search (trial {best.number}) are now the project's design and training settings."
        )
        panel.show_notice(
            f"Trial {best.number}'s settings are now the project's: {params_words(best.params)}."
        )
        panel.best_settings_applied.emit()
        return True


def _ending(summary) -> str:
    why = {
        "trials": "it reached the number of trials",
        "time": "the time was up",
        "grid": "every combination was tried",
        "stopped": "you stopped it; finished trials are kept, and Continue redoes the stopped one",
    }.get(summary.ended_because, "")
    text = f"The search ended: {why}." if why else "The search ended."
    if summary.best is not None:
        text += f" Best: trial {summary.best.number} ({params_words(summary.best.params)})."
    return text
