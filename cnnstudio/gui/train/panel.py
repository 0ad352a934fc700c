"""The Train section: settings, Start / Pause / Stop, progress, live curves, the coach, the run history.

    panel = TrainingPanel(session)
    panel.start()                      # a new run with the settings shown and the project's design
    panel.pause(); panel.resume(); panel.stop()
    panel.is_training()                # for the window: ask before closing
    panel.confirm_stop(parent)         # asks; True when no run trains any more (stopped and saved)
    panel.stop_and_wait(timeout_s)     # stops after the current batch, saves, returns when done

The panel holds the widgets and their layout; its job control (start, resume, continue, fine-tune,
the LR finder, pause and stop, the checks before a start) is `panel.jobs`, a `TrainingController`
(controller.py). Training runs in a worker thread (`TrainingWorker`, a task of the session's
TaskRunner, so the status bar shows it); the GUI thread only draws, five times a second. Closing the
window while a run trains asks first (an event filter on the window), then stops the run after the
current batch with a checkpoint saved, so it can be resumed from the run history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.errors import UserError
from cnnstudio.core.runs import RunRecord
from cnnstudio.core.train.coach import Advice
from cnnstudio.gui.style import muted_color, warning_color
from cnnstudio.gui.style.theme import error_color
from cnnstudio.gui.train.augment_preview import AugmentPreview, pick_samples
from cnnstudio.gui.train.controller import TrainingController
from cnnstudio.gui.train.feed import FeedUpdate
from cnnstudio.gui.train.history import RunHistory
from cnnstudio.gui.train.jobs import find_devices
from cnnstudio.gui.train.plots import TrainingPlots
from cnnstudio.gui.train.progress_view import ProgressView
from cnnstudio.gui.train.settings_form import SettingsForm
from cnnstudio.gui.train.worker import TrainingOutcome

if TYPE_CHECKING:
    from cnnstudio.core.spec import ModelSpec
    from cnnstudio.gui.session import ProjectSession


class TrainingPanel(QWidget):
    training_started = Signal(str)  # the run folder
    training_finished = Signal(object)  # TrainingOutcome

    def __init__(self, session: ProjectSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.tasks = session.tasks
        self.jobs = TrainingController(self)
        self.worker = self.jobs.worker
        self.jobs.started.connect(self.training_started)
        self.jobs.finished.connect(self.training_finished)
        self._watched_window: QWidget | None = None
        self.advice: Advice | None = None

        self._build()
        session.project_changed.connect(self._project_changed)
        for signal in (session.index_changed, session.labels_changed, session.splits_changed):
            signal.connect(self._data_changed)
        self._project_changed(session.project)
        self._probe_devices()

    # ---- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.settings = SettingsForm()
        self.preview = AugmentPreview(self.tasks)
        self.settings.preview_slot.addWidget(self.preview)
        self.settings.changed.connect(self.save_settings)
        self.settings.augment_changed.connect(self._update_preview_config)
        self.settings.find_lr_requested.connect(self.find_learning_rate)
        scroll = QScrollArea()
        scroll.setWidget(self.settings)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.settings.sizeHint().width() + 24)
        self.settings_scroll = scroll

        style = self.style()
        self.start_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "Start training"
        )
        self.start_button.setDefault(True)
        self.start_button.setMinimumHeight(32)
        self.pause_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaPause), "Pause")
        self.stop_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaStop), "Stop")
        self.stop_button.setToolTip(
            "Stop after the current batch; the work done is saved and the run can be resumed."
        )
        self.start_button.clicked.connect(lambda: self.start())
        self.pause_button.clicked.connect(self.jobs.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.progress = ProgressView()
        controls = QHBoxLayout()
        controls.addWidget(self.start_button)
        controls.addWidget(self.pause_button)
        controls.addWidget(self.stop_button)
        controls.addWidget(self.progress.hardware, 1)

        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.hide()
        self.coach_label = QLabel()
        self.coach_label.setWordWrap(True)
        self.coach_label.setTextFormat(Qt.TextFormat.RichText)
        # The coach's proposal after new labels (core.suggest.retrain): one click starts the fine-tune.
        self.retrain_button = QPushButton("Fine-tune the last run on the new labels")
        self.retrain_button.clicked.connect(lambda: self.fine_tune_on_new_labels())
        self.retrain_button.hide()

        self.plots = TrainingPlots()
        self.history = RunHistory(self.tasks)
        self.history.curves_loaded.connect(self.plots.set_overlays)
        self.history.resume_requested.connect(self.resume_run)
        self.history.continue_requested.connect(self.continue_run)
        self.history.fine_tune_requested.connect(self.fine_tune)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.plots)
        splitter.addWidget(self.history)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter

        right = QVBoxLayout()
        right.addLayout(controls)
        right.addWidget(self.progress)
        right.addWidget(self.notice)
        right.addWidget(self.coach_label)
        right.addWidget(self.retrain_button, 0, Qt.AlignmentFlag.AlignLeft)
        right.addWidget(splitter, 1)
        layout = QHBoxLayout(self)
        layout.addWidget(scroll)
        layout.addLayout(right, 1)
        self.show_state("idle")
        self.show_advice(None)

    # ---- public API (job control is self.jobs; these delegate) --------------------------------
    def is_training(self) -> bool:
        return self.jobs.is_training()

    @property
    def state(self) -> str:
        return self.jobs.state

    @property
    def last_outcome(self) -> TrainingOutcome | None:
        return self.jobs.last_outcome

    @property
    def retrain_proposal(self):
        """The coach's proposal to fine-tune on new labels (core.suggest.retrain), or None."""
        return self.jobs.retrain_proposal

    @property
    def lr_find_batches(self) -> int:
        return self.jobs.lr_find_batches

    @lr_find_batches.setter
    def lr_find_batches(self, value: int) -> None:
        self.jobs.lr_find_batches = value

    def config(self):
        """The settings shown, as a TrainConfig (UserError when one cannot work)."""
        return self.settings.config()

    def set_config(self, config) -> None:
        self.settings.set_config(config)
        self._update_preview_config()

    def start(self) -> bool:
        """Train a new run with the settings shown and the project's design (see TrainingController)."""
        return self.jobs.start()

    def pause(self) -> None:
        self.jobs.pause()

    def resume(self) -> None:
        self.jobs.resume()

    def stop(self, abandon: bool = False) -> None:
        self.jobs.stop(abandon)

    def stop_and_wait(self, timeout_s: float = 60.0) -> bool:
        return self.jobs.stop_and_wait(timeout_s)

    def resume_run(self, record: RunRecord) -> bool:
        return self.jobs.resume_run(record)

    def continue_run(self, record: RunRecord, extra_epochs: int | None = None) -> bool:
        return self.jobs.continue_run(record, extra_epochs)

    def fine_tune(self, record: RunRecord, spec: ModelSpec | None = None, config=None) -> bool:
        return self.jobs.fine_tune(record, spec, config)

    def fine_tune_on_new_labels(self) -> bool:
        return self.jobs.fine_tune_on_new_labels()

    def find_learning_rate(self):
        """Open the LR finder (see TrainingController.find_learning_rate). Returns the dialog."""
        return self.jobs.find_learning_rate()

    def apply_update(self, update: FeedUpdate) -> None:
        self.jobs.apply_update(update)

    def confirm_stop(self, parent: QWidget | None = None) -> bool:
        """Ask whether to stop a running training; if yes, stop it (saved) and return True."""
        if not self.is_training():
            return True
        answer = QMessageBox.question(
            parent or self,
            "Training is running",
            "A model is training. Stop it now?\n\nThe work done so far is saved; you can resume the run "
            "later from the run history.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        return self.stop_and_wait()

    def section_shown(self) -> None:
        """The window calls this when the Train section is shown: the design may have changed."""
        self.check_design()
        self._update_preview_samples()
        self.reload_history()
        self._update_retrain()

    def _update_retrain(self) -> None:
        """Show the coach's "fine-tune on the new labels" proposal when enough pictures were labelled."""
        proposal = self.jobs.update_retrain()
        self.retrain_button.setVisible(proposal is not None)
        if proposal is not None:  # labels changed since the last run: its curves' advice is old news
            self.show_advice(proposal.advice())
        elif proposal is None and self.advice is not None and self.advice.code == "retrain":
            self.show_advice(None)

    def check_design(self) -> None:
        if self.session.project is None or self.is_training():
            return
        try:
            from cnnstudio.core.pipeline import resolve_spec

            problem = self.jobs.design_problem(resolve_spec(self.session.project))
        except UserError as exc:
            problem = str(exc)
        self.start_button.setEnabled(problem is None)
        self.start_button.setToolTip(problem or "Train a new run with these settings and the model design.")
        if problem:
            self.show_notice(problem, error=True)
        elif self.notice.property("design"):
            self.notice.hide()
        self.notice.setProperty("design", bool(problem))

    # ---- state and messages --------------------------------------------------------------------
    def show_state(self, state: str) -> None:
        """The buttons, settings and history for the run's state (the controller's)."""
        busy = state != "idle"
        self.start_button.setEnabled(not busy and self.session.project is not None)
        # a run in several processes (one per GPU) cannot pause: Stop keeps its last checkpoint
        several = self.settings.process_count() > 1
        self.pause_button.setEnabled(state in ("preparing", "training", "paused") and not several)
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.pause_button.setIcon(
            self.style().standardIcon(
                QStyle.StandardPixmap.SP_MediaPlay
                if state == "paused"
                else QStyle.StandardPixmap.SP_MediaPause
            )
        )
        self.stop_button.setEnabled(state in ("preparing", "training", "paused"))
        self.settings.setEnabled(not busy)
        self.history.set_busy(busy)
        self.history.set_paused(state == "paused")
        if state == "paused":
            self.progress.set_status("Paused")
        elif state == "stopping":
            self.progress.set_status("Stopping after this batch…")

    def show_notice(self, text: str, error: bool = False) -> None:
        color = error_color() if error else muted_color()
        self.notice.setStyleSheet(f"color: {color.name()};")
        self.notice.setText(text)
        self.notice.setProperty("error", error)
        self.notice.setVisible(bool(text))

    def show_advice(self, advice: Advice | None) -> None:
        self.advice = advice
        if advice is None:
            self.coach_label.setText(
                f"<span style='color:{muted_color().name()}'>Coach: advice appears here as the curves come in.</span>"
            )
            return
        color = {
            "good": "#59a14f",
            "info": muted_color().name(),
            "warning": warning_color().name(),
            "problem": error_color().name(),
        }[advice.level]
        self.coach_label.setText(f"<span style='color:{color}'>●</span> <b>Coach:</b> {advice.text}")

    # ---- the project and its data --------------------------------------------------------------
    def _project_changed(self, project) -> None:
        from cnnstudio.core.train.config import TrainConfig

        self.jobs.reset()
        self.plots.clear()
        self.plots.set_overlays([])
        self.progress.reset()
        self.notice.hide()
        self.show_advice(None)
        config = TrainConfig()
        if project is not None and project.train_config:
            try:
                config = TrainConfig.from_dict(project.train_config)
                config.validate()
            except (UserError, TypeError, ValueError):
                config = TrainConfig()
        self.set_config(config)
        self.jobs.set_state("idle")
        self.history.set_runs([])
        if project is not None:
            self.reload_history()
            self._update_preview_samples()
            self.check_design()

    def _data_changed(self, *_args) -> None:
        self.jobs.forget_data()
        self._update_preview_samples()
        self._update_retrain()

    def save_settings(self) -> None:
        project = self.session.project
        if project is None:
            return
        try:
            config = self.settings.config()
        except UserError:
            return  # half-typed; saved once it makes sense
        data = config.to_dict()
        if project.train_config != data:
            project.train_config = data
            self.session.schedule_save()

    def _update_preview_samples(self) -> None:
        project = self.session.project
        if project is None:
            return
        try:
            from cnnstudio.core.pipeline import resolve_spec

            prep = resolve_spec(project).preprocessing()
        except UserError:
            return
        self.preview.set_samples(pick_samples(self.session.index), prep)
        self._update_preview_config()

    def _update_preview_config(self) -> None:
        self.preview.set_config(self.settings.augment_config())

    def _probe_devices(self) -> None:
        self.tasks.start(
            "Looking for graphics cards",
            find_devices,
            on_success=lambda found: self.settings.set_devices(*found),
            quiet=True,
        )

    # ---- run history ---------------------------------------------------------------------------
    def reload_history(self) -> None:
        project = self.session.project
        self.history.live = self.jobs.live_run
        self.history.reload(project.runs_dir if project is not None else None)

    # ---- closing while training ----------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        window = self.window()
        if window is not self and window is not self._watched_window:
            if self._watched_window is not None:
                self._watched_window.removeEventFilter(self)
            window.installEventFilter(self)
            self._watched_window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._watched_window and event.type() == QEvent.Type.Close and self.is_training():
            if not self.confirm_stop(self._watched_window):
                event.ignore()
                return True
        return super().eventFilter(watched, event)

    def closeEvent(self, event) -> None:  # the panel alone (the preview)
        if self.is_training() and not self.confirm_stop(self):
            event.ignore()
            return
        super().closeEvent(event)
