"""The Train section: settings, Start / Pause / Stop, progress, live curves, the coach, the run history.

    panel = TrainingPanel(session)
    panel.start()                      # a new run with the settings shown and the project's design
    panel.pause(); panel.resume(); panel.stop()
    panel.is_training()                # for the window: ask before closing
    panel.confirm_stop(parent)         # asks; True when no run trains any more (stopped and saved)
    panel.stop_and_wait(timeout_s)     # stops after the current batch, saves, returns when done

Training runs in a worker thread (`TrainingWorker`, a task of the session's TaskRunner, so the status
bar shows it); the GUI thread only draws, five times a second. Closing the window while a run trains
asks first (an event filter on the window), then stops the run after the current batch with a
checkpoint saved, so it can be resumed from the run history.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.coach import Advice, CoachContext, coach
from cnnstudio.core.errors import UserError
from cnnstudio.core.runs import BEST_WEIGHTS, RunRecord
from cnnstudio.gui.style import muted_color, warning_color
from cnnstudio.gui.style.theme import error_color
from cnnstudio.gui.training.augment_preview import AugmentPreview, pick_samples
from cnnstudio.gui.training.feed import FeedUpdate
from cnnstudio.gui.training.history import RunHistory
from cnnstudio.gui.training.jobs import PreparedCache, data_key, find_devices, lr_find_job, training_job
from cnnstudio.gui.training.kept import kept_model_words
from cnnstudio.gui.training.plots import TrainingPlots
from cnnstudio.gui.training.progress_view import ProgressView
from cnnstudio.gui.training.settings_form import SettingsForm
from cnnstudio.gui.training.text import duration
from cnnstudio.gui.training.weights_check import confirm_random_weights
from cnnstudio.gui.training.worker import TrainingOutcome, TrainingWorker

if TYPE_CHECKING:
    from cnnstudio.core.spec import ModelSpec
    from cnnstudio.gui.session import ProjectSession

HISTORY_REFRESH_MS = 3000  # the live run's row in the history, at most this often


class TrainingPanel(QWidget):
    training_started = Signal(str)  # the run folder
    training_finished = Signal(object)  # TrainingOutcome
    lr_find_batches = 100  # the LR range test's length (tests shorten it)

    def __init__(self, session: ProjectSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.tasks = session.tasks
        self.worker = TrainingWorker(self.tasks, self)
        self.worker.began.connect(self._began)
        self.worker.updated.connect(self.apply_update)
        self.worker.finished.connect(self._finished)
        self.worker.progressed.connect(self._preparing_progress)
        self._prepared = PreparedCache()
        self._generation = 0
        self._live_run: Path | None = None
        self._epoch_logs: list[dict[str, Any]] = []
        self._coach_context = CoachContext()
        self._state = "idle"  # idle | preparing | training | paused | stopping
        self._watched_window: QWidget | None = None
        self.last_outcome: TrainingOutcome | None = None
        self._history_timer = QTimer(self, singleShot=True, interval=HISTORY_REFRESH_MS)
        self._history_timer.timeout.connect(self._reload_live_run)

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
        self.settings.changed.connect(self._save_settings)
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
        self.pause_button.clicked.connect(self._toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.progress = ProgressView()
        controls = QHBoxLayout()
        controls.addWidget(self.start_button)
        controls.addWidget(self.pause_button)
        controls.addWidget(self.stop_button)
        controls.addStretch(1)
        controls.addWidget(self.progress.hardware)

        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.hide()
        self.coach_label = QLabel()
        self.coach_label.setWordWrap(True)
        self.coach_label.setTextFormat(Qt.TextFormat.RichText)
        self.advice: Advice | None = None
        # The coach's proposal after new labels (core.suggest.retrain): one click starts the fine-tune.
        self.retrain_button = QPushButton("Fine-tune the last run on the new labels")
        self.retrain_button.clicked.connect(lambda: self.fine_tune_on_new_labels())
        self.retrain_button.hide()
        self.retrain_proposal = None

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
        self._set_state("idle")
        self._show_advice(None)

    # ---- public API ----------------------------------------------------------------------------
    def is_training(self) -> bool:
        return self.worker.is_running()

    def config(self):
        """The settings shown, as a TrainConfig (UserError when one cannot work)."""
        return self.settings.config()

    def set_config(self, config) -> None:
        self.settings.set_config(config)
        self._update_preview_config()

    def start(self) -> bool:
        """Train a new run with the settings shown and the project's design. False when it cannot
        start (the reason is shown)."""
        project = self.session.project
        if project is None or self.is_training():
            return False
        try:
            config = self.config()
            spec = self._design()
        except UserError as exc:
            self._show_notice(str(exc), error=True)
            return False
        if not confirm_random_weights(self, spec):  # a frozen backbone without its weights asks first
            return False
        self._save_settings()
        return self._start_job(f"Training {spec.name}", spec, config, label=spec.name or "run")

    def pause(self) -> None:
        if self.is_training() and self._state in ("training", "preparing"):
            self.worker.pause()
            self._set_state("paused")

    def resume(self) -> None:
        if self.is_training() and self._state == "paused":
            self.worker.resume()
            self._set_state("training" if self._live_run is not None else "preparing")

    def stop(self, abandon: bool = False) -> None:
        """Stop after the current batch; the trainer saves a checkpoint of the work done."""
        if self.is_training():
            self.worker.stop(abandon=abandon)
            self.worker.resume()
            self._set_state("stopping")

    def stop_and_wait(self, timeout_s: float = 60.0) -> bool:
        """Stop now (skipping the evaluation that follows a run) and wait for the checkpoint to be
        written. True when training has ended."""
        if not self.is_training():
            return True
        self.stop(abandon=True)
        return self.worker.wait(timeout_s)

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
        self._check_design()
        self._update_preview_samples()
        self.reload_history()
        self._update_retrain()

    def _update_retrain(self) -> None:
        """Show the coach's "fine-tune on the new labels" proposal when enough pictures were labelled."""
        from cnnstudio.core.suggest.retrain import retrain_proposal

        session = self.session
        proposal = None
        if not self.is_training() and session.project is not None and session.index is not None:
            proposal = retrain_proposal(session.project, session.index)
        self.retrain_proposal = proposal
        self.retrain_button.setVisible(proposal is not None)
        if proposal is not None:  # labels changed since the last run: its curves' advice is old news
            self._show_advice(proposal.advice())
        elif proposal is None and self.advice is not None and self.advice.code == "retrain":
            self._show_advice(None)

    def fine_tune_on_new_labels(self) -> bool:
        """Start the proposed fine-tune: the last run's design and weights, its settings with the
        proposal's learning rate and epochs, through the same path as "Fine-tune from this run"."""
        from cnnstudio.core.runs import load_run
        from cnnstudio.core.spec import ModelSpec
        from cnnstudio.core.train.config import TrainConfig

        proposal = self.retrain_proposal
        record = load_run(proposal.run_dir) if proposal is not None else None
        if record is None:
            return False
        spec = ModelSpec.from_dict(proposal.spec)
        return self.fine_tune(record, spec=spec, config=TrainConfig.from_dict(proposal.train))

    # ---- starting jobs -------------------------------------------------------------------------
    def _design(self) -> ModelSpec:
        from cnnstudio.core.pipeline import resolve_spec

        project = self.session.project
        spec = resolve_spec(project)
        problem = self._design_problem(spec)
        if problem:
            raise UserError(problem)
        return spec

    def _design_problem(self, spec: ModelSpec) -> str | None:
        """The designer's own check (infer_shapes), when the number of classes is known."""
        from cnnstudio.core.spec import infer_shapes

        classes = len(self.session.classes())
        if classes < 2:
            return None  # the data check says it better once the pictures are read
        report = infer_shapes(spec, classes)
        if report.error:
            return f"The model design cannot be trained: {report.error} Fix it in the Model section."
        return None

    def _check_design(self) -> None:
        if self.session.project is None or self.is_training():
            return
        try:
            from cnnstudio.core.pipeline import resolve_spec

            problem = self._design_problem(resolve_spec(self.session.project))
        except UserError as exc:
            problem = str(exc)
        self.start_button.setEnabled(problem is None)
        self.start_button.setToolTip(problem or "Train a new run with these settings and the model design.")
        if problem:
            self._show_notice(problem, error=True)
        elif self.notice.property("design"):
            self.notice.hide()
        self.notice.setProperty("design", bool(problem))

    def _start_job(
        self,
        title: str,
        spec: ModelSpec,
        config,
        *,
        label: str | None = None,
        resume: Path | None = None,
        init_weights: Path | None = None,
        epochs: int | None = None,
    ) -> bool:
        project = self.session.project
        key = data_key(project, spec, self._generation)
        cached = self._prepared.get(key) is not None
        job = training_job(
            project,
            spec,
            config,
            self._prepared,
            key,
            title=title,
            label=label,
            resume=resume,
            init_weights=init_weights,
            epochs=epochs,
            processes=self.settings.process_count(),
        )

        self._coach_context = CoachContext(
            augmenting=config.augment.enabled,
            dropout=any(layer.type == "Dropout" for layer in spec.layers),
            early_stopping=config.early_stopping,
            lr=config.lr,
            num_classes=len(self.session.classes()) or None,
        )
        self._epoch_logs = []
        self._live_run = None
        self.plots.clear()
        self.plots.set_run_length(epochs or config.epochs)
        self.progress.reset("Starting…" if cached else "Reading the pictures…")
        self.notice.hide()
        self.notice.setProperty("design", False)
        self._show_advice(None)
        self.worker.start(title, job)
        self._set_state("preparing")
        return True

    def resume_run(self, record: RunRecord) -> bool:
        """Continue an interrupted run from its last checkpoint."""
        return self._continue(record, None, f"Resuming {record.name}")

    def continue_run(self, record: RunRecord, extra_epochs: int | None = None) -> bool:
        """Train a finished run for more epochs (asks how many when not given)."""
        if extra_epochs is None:
            extra_epochs, ok = QInputDialog.getInt(
                self,
                "Train more epochs",
                f"{record.name} has trained {record.epochs_done} epochs. How many more?",
                max(1, min(record.epochs_done or 10, 1000)),
                1,
                100_000,
            )
            if not ok:
                return False
        return self._continue(record, record.epochs_done + extra_epochs, f"Continuing {record.name}")

    def _continue(self, record: RunRecord, epochs: int | None, title: str) -> bool:
        from cnnstudio.core.spec import ModelSpec
        from cnnstudio.core.train.config import TrainConfig

        if self.session.project is None or self.is_training():
            return False
        try:
            spec = ModelSpec.from_dict(record.spec)
            config = TrainConfig.from_dict(record.train)
        except (UserError, TypeError, ValueError) as exc:
            self._show_notice(f"The run {record.name} cannot be continued: {exc}", error=True)
            return False
        if epochs is None and record.epochs > config.epochs:
            epochs = record.epochs  # a run continued before, then interrupted: its new total
        return self._start_job(title, spec, config, resume=record.path, epochs=epochs)

    def fine_tune(self, record: RunRecord, spec: ModelSpec | None = None, config=None) -> bool:
        """A new run from `record`'s best weights, with the layers chosen in a dialog frozen (or `spec`)."""
        from cnnstudio.core.spec import ModelSpec

        if self.session.project is None or self.is_training():
            return False
        if spec is None:
            from cnnstudio.gui.training.finetune_dialog import FineTuneDialog

            dialog = FineTuneDialog(
                ModelSpec.from_dict(record.spec), max(2, len(record.class_names)), record.name, self
            )
            if dialog.exec() != FineTuneDialog.DialogCode.Accepted:
                return False
            spec = dialog.spec()
        try:
            config = config if config is not None else self.config()
        except UserError as exc:
            self._show_notice(str(exc), error=True)
            return False
        self._save_settings()
        self.retrain_button.hide()
        return self._start_job(
            f"Fine-tuning from {record.name}",
            spec,
            config,
            label=f"{spec.name or 'run'}-finetuned",
            init_weights=record.path / BEST_WEIGHTS,
        )

    def find_learning_rate(self):
        """Open the LR finder; it runs in the background and offers its suggestion. Returns the dialog."""
        from cnnstudio.gui.training.lr_dialog import LRFinderDialog

        if self.session.project is None:
            self._show_notice("Open a project first: the test trains briefly on its pictures.", error=True)
            return None
        try:
            config = self.config()
            spec = self._design()
        except UserError as exc:
            self._show_notice(str(exc), error=True)
            return None
        project = self.session.project
        key = data_key(project, spec, self._generation)
        job = lr_find_job(project, spec, config, self._prepared, key, self.lr_find_batches)
        dialog = LRFinderDialog(self.tasks, job, self)
        dialog.use_lr.connect(self._use_learning_rate)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        dialog.start()
        self.lr_dialog = dialog
        return dialog

    def _use_learning_rate(self, value: float) -> None:
        self.settings.set_learning_rate(value)
        self._show_notice(f"Learning rate set to {value:.2g}.")

    # ---- progress from the worker --------------------------------------------------------------
    def _preparing_progress(self, done: int, total: int) -> None:
        if self._state in ("preparing", "paused") and self._live_run is None and total:
            self.progress.set_status(f"Reading the pictures: {done:,} of {total:,}")

    def _began(self, logs: dict[str, Any]) -> None:
        self._live_run = Path(logs["run_dir"]) if logs.get("run_dir") else None
        self.progress.began(logs)
        self.plots.set_live_name(self._live_run.name if self._live_run is not None else None)
        self.plots.set_run_length(int(logs.get("epochs") or 1))
        previous = logs.get("previous_epochs") or []
        self._epoch_logs = list(previous)
        self.plots.set_epochs(previous)
        if self._state == "preparing":
            self._set_state("training")
        self._show_advice(coach(self._epoch_logs, self._coach_context))
        self.training_started.emit(str(self._live_run) if self._live_run else "")
        self.reload_history()

    def apply_update(self, update: FeedUpdate) -> None:
        """Draw what the worker reported since the last update (a few times a second)."""
        self.plots.add_batches(update.batches)
        self.plots.add_epochs(update.epochs)
        if update.phase is not None:
            self.progress.phase(update.phase)
        if update.last_batch is not None:
            self.progress.batch_done(update.last_batch)
        for logs in update.epochs:
            self.progress.epoch_done(logs)
            self._epoch_logs.append(logs)
        bad = [p.loss for p in update.batches if not math.isfinite(p.loss)]
        if update.epochs or bad:
            self._show_advice(coach(self._epoch_logs, self._coach_context, bad[:1]))
        if update.epochs and not self._history_timer.isActive():
            self._history_timer.start()
        self.plots.refresh()

    def _finished(self, outcome: TrainingOutcome) -> None:
        self.last_outcome = outcome
        self._set_state("idle")
        self._history_timer.stop()
        self.plots.refresh(force=True)
        status = outcome.status
        if status in ("finished", "stopped", "crashed"):
            words = {"finished": "Finished", "stopped": "Stopped", "crashed": "Failed"}[status]
            self.progress.finish(words, complete=status == "finished")
        else:
            self.progress.reset(
                "Stopped before training began" if status == "cancelled" else "Could not start"
            )
        context = dataclasses.replace(self._coach_context, finished=True)
        if self._epoch_logs or outcome.error:
            bad = [math.nan] if (outcome.history is not None and outcome.history.reason == "unstable") else []
            self._show_advice(coach(self._epoch_logs, context, bad))
        if outcome.error:
            self._show_notice(outcome.error, error=True)
            self.session.error.emit(outcome.error)
        else:
            self._show_notice(self._summary(outcome))
        self._live_run = None
        self.reload_history()
        self._check_design()
        self.training_finished.emit(outcome)

    def _summary(self, outcome: TrainingOutcome) -> str:
        parts = [outcome.message or outcome.status.capitalize() + "."]
        parts.extend(kept_model_words(self._epoch_logs, outcome.history))
        seconds = sum(e.get("seconds") or 0 for e in self._epoch_logs)
        if seconds:
            parts.append(f"Training time: {duration(seconds)}.")
        if outcome.precision:
            parts.append(f"Precision: {outcome.precision}.")
        return " ".join(parts)

    # ---- state and messages --------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        self._state = state
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
        if state == "paused":
            self.progress.set_status("Paused")
        elif state == "stopping":
            self.progress.set_status("Stopping after this batch…")

    @property
    def state(self) -> str:
        return self._state

    def _toggle_pause(self) -> None:
        if self._state == "paused":
            self.resume()
        else:
            self.pause()

    def _show_notice(self, text: str, error: bool = False) -> None:
        color = error_color() if error else muted_color()
        self.notice.setStyleSheet(f"color: {color.name()};")
        self.notice.setText(text)
        self.notice.setProperty("error", error)
        self.notice.setVisible(bool(text))

    def _show_advice(self, advice: Advice | None) -> None:
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

        if self.is_training():  # the window should have asked (confirm_stop); never lose the run
            self.stop_and_wait()
        self._generation += 1
        self._prepared.clear()
        self.plots.clear()
        self.plots.set_overlays([])
        self.progress.reset()
        self.notice.hide()
        self._epoch_logs = []
        self._show_advice(None)
        config = TrainConfig()
        if project is not None and project.train_config:
            try:
                config = TrainConfig.from_dict(project.train_config)
                config.validate()
            except (UserError, TypeError, ValueError):
                config = TrainConfig()
        self.set_config(config)
        self._set_state("idle")
        self.history.set_runs([])
        if project is not None:
            self.reload_history()
            self._update_preview_samples()
            self._check_design()

    def _data_changed(self, *_args) -> None:
        self._generation += 1
        self._prepared.clear()
        self._update_preview_samples()
        self._update_retrain()

    def _save_settings(self) -> None:
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
        self.history.live = self._live_run
        self.history.reload(project.runs_dir if project is not None else None)

    def _reload_live_run(self) -> None:
        if self._live_run is not None:
            self.history.reload_run(self._live_run)

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
