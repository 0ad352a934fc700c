"""The Train section's job control: what starts, pauses, resumes and stops a run, apart from the widgets.

    jobs = TrainingController(panel)   # the panel creates it; panel.jobs
    jobs.start()                       # a new run with the settings shown and the project's design
    jobs.resume_run(record); jobs.continue_run(record, 5); jobs.fine_tune(record)
    jobs.fine_tune_on_new_labels()     # the coach's proposal after new labels
    jobs.find_learning_rate()          # the LR range test in its dialog
    jobs.pause(); jobs.resume(); jobs.stop(); jobs.stop_and_wait(timeout_s)

It owns the worker (`TrainingWorker`), the prepared-data cache, the run's state (idle | preparing |
training | paused | stopping), the live run's epoch logs and the coach's context, and checks before a
start (the design, a frozen backbone without its weights). It draws through the panel: its widgets
(plots, progress, history) and its notice and coach line.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QInputDialog

from cnnstudio.core.errors import UserError
from cnnstudio.core.runs import BEST_WEIGHTS, RunRecord
from cnnstudio.core.train.coach import CoachContext, coach
from cnnstudio.core.words import plural
from cnnstudio.gui.train.feed import FeedUpdate
from cnnstudio.gui.train.jobs import PreparedCache, data_key, lr_find_job, training_job
from cnnstudio.gui.train.kept import kept_model_words
from cnnstudio.gui.train.text import duration
from cnnstudio.gui.train.weights_check import confirm_random_weights
from cnnstudio.gui.train.worker import TrainingOutcome, TrainingWorker

if TYPE_CHECKING:
    from PySide6.QtWidgets import QLabel, QPushButton

    from cnnstudio.core.spec import ModelSpec
    from cnnstudio.core.train.coach import Advice
    from cnnstudio.core.train.config import TrainConfig
    from cnnstudio.gui.session import ProjectSession
    from cnnstudio.gui.train.history import RunHistory
    from cnnstudio.gui.train.plots import TrainingPlots
    from cnnstudio.gui.train.progress_view import ProgressView
    from cnnstudio.gui.train.settings_form import SettingsForm

HISTORY_REFRESH_MS = 3000  # the live run's row in the history, at most this often


@runtime_checkable
class TrainingView(Protocol):
    """What the controller uses of its widget (TrainingPanel, a QWidget: also the parent of the
    controller and of its dialogs). Named here so the controller need not import the panel, which
    imports the controller; tests/gui/test_view_protocols.py checks the real panel has all of it."""

    session: ProjectSession
    settings: SettingsForm
    progress: ProgressView
    plots: TrainingPlots
    history: RunHistory
    notice: QLabel
    retrain_button: QPushButton

    def config(self) -> TrainConfig: ...
    def save_settings(self) -> None: ...
    def check_design(self) -> None: ...
    def reload_history(self) -> None: ...
    def show_state(self, state: str) -> None: ...
    def show_notice(self, text: str, error: bool = False) -> None: ...
    def show_advice(self, advice: Advice | None) -> None: ...


class TrainingController(QObject):
    started = Signal(str)  # the run folder
    finished = Signal(object)  # TrainingOutcome
    lr_find_batches = 100  # the LR range test's length (tests shorten it)

    def __init__(self, panel: TrainingView):
        super().__init__(panel)
        self.panel = panel
        self.session = panel.session
        self.tasks = panel.session.tasks
        self.worker = TrainingWorker(self.tasks, self)
        self.worker.began.connect(self._began)
        self.worker.updated.connect(self.apply_update)
        self.worker.finished.connect(self._finished)
        self.worker.progressed.connect(self._preparing_progress)
        self.prepared = PreparedCache()
        self.generation = 0
        self.live_run: Path | None = None
        self.epoch_logs: list[dict[str, Any]] = []
        self.coach_context = CoachContext()
        self.state = "idle"  # idle | preparing | training | paused | stopping
        self.last_outcome: TrainingOutcome | None = None
        self.retrain_proposal = None
        self.lr_dialog = None
        self._history_timer = QTimer(self, singleShot=True, interval=HISTORY_REFRESH_MS)
        self._history_timer.timeout.connect(self._reload_live_run)

    def is_training(self) -> bool:
        return self.worker.is_running()

    def set_state(self, state: str) -> None:
        self.state = state
        self.panel.show_state(state)

    def forget_data(self) -> None:
        """The pictures, labels or splits changed: prepared data is stale."""
        self.generation += 1
        self.prepared.clear()

    def reset(self) -> None:
        """Another project: stop a run (saved) and forget the last one's data and logs."""
        if self.is_training():  # the window should have asked (confirm_stop); never lose the run
            self.stop_and_wait()
        self.forget_data()
        self.epoch_logs = []

    # ---- starting jobs -------------------------------------------------------------------------
    def start(self) -> bool:
        """Train a new run with the settings shown and the project's design. False when it cannot
        start (the reason is shown)."""
        panel = self.panel
        if self.session.project is None or self.is_training():
            return False
        try:
            config = panel.config()
            spec = self.design()
        except UserError as exc:
            panel.show_notice(str(exc), error=True)
            return False
        if not confirm_random_weights(panel, spec):  # a frozen backbone without its weights asks first
            return False
        panel.save_settings()
        return self._start_job(f"Training {spec.name}", spec, config, label=spec.name or "run")

    def resume_run(self, record: RunRecord) -> bool:
        """Continue an interrupted run from its last checkpoint."""
        return self._continue(record, None, f"Resuming {record.name}")

    def continue_run(self, record: RunRecord, extra_epochs: int | None = None) -> bool:
        """Train a finished run for more epochs (asks how many when not given)."""
        if extra_epochs is None:
            extra_epochs, ok = QInputDialog.getInt(
                self.panel,
                "Train more epochs",
                f"{record.name} has trained {plural(record.epochs_done, 'epoch')}. How many more?",
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
            self.panel.show_notice(f"The run {record.name} cannot be continued: {exc}", error=True)
            return False
        if epochs is None and record.epochs > config.epochs:
            epochs = record.epochs  # a run continued before, then interrupted: its new total
        return self._start_job(title, spec, config, resume=record.path, epochs=epochs)

    def fine_tune(self, record: RunRecord, spec: ModelSpec | None = None, config=None) -> bool:
        """A new run from `record`'s best weights, with the layers chosen in a dialog frozen (or `spec`)."""
        from cnnstudio.core.spec import ModelSpec

        panel = self.panel
        if self.session.project is None or self.is_training():
            return False
        if spec is None:
            from cnnstudio.gui.train.finetune_dialog import FineTuneDialog

            dialog = FineTuneDialog(
                ModelSpec.from_dict(record.spec), max(2, len(record.class_names)), record.name, panel
            )
            if dialog.exec() != FineTuneDialog.DialogCode.Accepted:
                return False
            spec = dialog.spec()
        try:
            config = config if config is not None else panel.config()
        except UserError as exc:
            panel.show_notice(str(exc), error=True)
            return False
        panel.save_settings()
        panel.retrain_button.hide()
        return self._start_job(
            f"Fine-tuning from {record.name}",
            spec,
            config,
            label=f"{spec.name or 'run'}-finetuned",
            init_weights=record.path / BEST_WEIGHTS,
        )

    def update_retrain(self):
        """The coach's "fine-tune on the new labels" proposal when enough pictures were labelled (or None)."""
        from cnnstudio.core.suggest.retrain import retrain_proposal

        session = self.session
        proposal = None
        if not self.is_training() and session.project is not None and session.index is not None:
            proposal = retrain_proposal(session.project, session.index)
        self.retrain_proposal = proposal
        return proposal

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

    def find_learning_rate(self):
        """Open the LR finder; it runs in the background and offers its suggestion. Returns the dialog."""
        from cnnstudio.gui.train.lr_dialog import LRFinderDialog

        panel = self.panel
        if self.session.project is None:
            panel.show_notice("Open a project first: the test trains briefly on its pictures.", error=True)
            return None
        try:
            config = panel.config()
            spec = self.design()
        except UserError as exc:
            panel.show_notice(str(exc), error=True)
            return None
        project = self.session.project
        key = data_key(project, spec, self.generation)
        job = lr_find_job(project, spec, config, self.prepared, key, self.lr_find_batches)
        dialog = LRFinderDialog(self.tasks, job, panel)
        dialog.use_lr.connect(self._use_learning_rate)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        dialog.start()
        self.lr_dialog = dialog
        return dialog

    def _use_learning_rate(self, value: float) -> None:
        self.panel.settings.set_learning_rate(value)
        self.panel.show_notice(f"Learning rate set to {value:.2g}.")

    def design(self) -> ModelSpec:
        """The project's design, or UserError with the designer's own complaint."""
        from cnnstudio.core.pipeline import resolve_spec

        spec = resolve_spec(self.session.project)
        problem = self.design_problem(spec)
        if problem:
            raise UserError(problem)
        return spec

    def design_problem(self, spec: ModelSpec) -> str | None:
        """The designer's own check (infer_shapes), when the number of classes is known."""
        from cnnstudio.core.spec import infer_shapes

        classes = len(self.session.classes())
        if classes < 2:
            return None  # the data check says it better once the pictures are read
        report = infer_shapes(spec, classes)
        if report.error:
            return f"The model design cannot be trained: {report.error} Fix it in the Model section."
        return None

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
        panel = self.panel
        project = self.session.project
        key = data_key(project, spec, self.generation)
        cached = self.prepared.get(key) is not None
        job = training_job(
            project,
            spec,
            config,
            self.prepared,
            key,
            title=title,
            label=label,
            resume=resume,
            init_weights=init_weights,
            epochs=epochs,
            processes=panel.settings.process_count(),
        )

        from cnnstudio.core.weights import random_frozen_backbones

        missing = random_frozen_backbones(spec)
        self.coach_context = CoachContext(
            random_backbone=missing[0][1].title if missing else "",
            augmenting=config.augment.enabled,
            dropout=any(layer.type == "Dropout" for layer in spec.layers),
            early_stopping=config.early_stopping,
            lr=config.lr,
            num_classes=len(self.session.classes()) or None,
        )
        self.epoch_logs = []
        self.live_run = None
        panel.plots.clear()
        panel.plots.set_run_length(epochs or config.epochs)
        panel.progress.reset("Starting…" if cached else "Reading the pictures…")
        panel.notice.hide()
        panel.notice.setProperty("design", False)
        panel.show_advice(None)
        self.worker.start(title, job)
        self.set_state("preparing")
        return True

    # ---- pause, resume, stop -------------------------------------------------------------------
    def pause(self) -> None:
        if self.is_training() and self.state in ("training", "preparing"):
            self.worker.pause()
            self.set_state("paused")

    def resume(self) -> None:
        if self.is_training() and self.state == "paused":
            self.worker.resume()
            self.set_state("training" if self.live_run is not None else "preparing")

    def toggle_pause(self) -> None:
        if self.state == "paused":
            self.resume()
        else:
            self.pause()

    def stop(self, abandon: bool = False) -> None:
        """Stop after the current batch; the trainer saves a checkpoint of the work done."""
        if self.is_training():
            self.worker.stop(abandon=abandon)
            self.worker.resume()
            self.set_state("stopping")

    def stop_and_wait(self, timeout_s: float = 60.0) -> bool:
        """Stop now (skipping the evaluation that follows a run) and wait for the checkpoint to be
        written. True when training has ended."""
        if not self.is_training():
            return True
        self.stop(abandon=True)
        return self.worker.wait(timeout_s)

    # ---- progress from the worker --------------------------------------------------------------
    def _preparing_progress(self, done: int, total: int) -> None:
        if self.state in ("preparing", "paused") and self.live_run is None and total:
            self.panel.progress.set_status(f"Reading the pictures: {done:,} of {total:,}")

    def _began(self, logs: dict[str, Any]) -> None:
        panel = self.panel
        self.live_run = Path(logs["run_dir"]) if logs.get("run_dir") else None
        panel.progress.began(logs)
        panel.plots.set_live_name(self.live_run.name if self.live_run is not None else None)
        panel.plots.set_run_length(int(logs.get("epochs") or 1))
        previous = logs.get("previous_epochs") or []
        self.epoch_logs = list(previous)
        panel.history.set_live_epochs(len(previous))
        panel.plots.set_epochs(previous)
        if self.state == "preparing":
            self.set_state("training")
        panel.show_advice(coach(self.epoch_logs, self.coach_context))
        if self.live_run is not None:
            self.session.run_began(self.live_run)
        self.started.emit(str(self.live_run) if self.live_run else "")
        panel.reload_history()

    def apply_update(self, update: FeedUpdate) -> None:
        """Draw what the worker reported since the last update (a few times a second)."""
        panel = self.panel
        panel.plots.add_batches(update.batches)
        panel.plots.add_epochs(update.epochs)
        if update.phase is not None:
            panel.progress.phase(update.phase)
        if update.last_batch is not None:
            panel.progress.batch_done(update.last_batch)
        for logs in update.epochs:
            panel.progress.epoch_done(logs)
            self.epoch_logs.append(logs)
        if update.epochs:
            panel.history.set_live_epochs(len(self.epoch_logs))
        bad = [p.loss for p in update.batches if not math.isfinite(p.loss)]
        if update.epochs or bad:
            panel.show_advice(coach(self.epoch_logs, self.coach_context, bad[:1]))
        if update.epochs and not self._history_timer.isActive():
            self._history_timer.start()
        if self.state == "paused":  # the batch under way when Pause was pressed has redrawn the bar
            panel.progress.set_status("Paused")
        if update.end is not None and update.end.get("status") in ("finished", "stopped"):
            panel.progress.checking(
                "Training done: checking the kept model on the validation and test pictures…"
            )
        panel.plots.refresh()

    def _finished(self, outcome: TrainingOutcome) -> None:
        panel = self.panel
        self.last_outcome = outcome
        self.set_state("idle")
        self._history_timer.stop()
        panel.plots.refresh(force=True)
        status = outcome.status
        if status in ("finished", "stopped", "crashed"):
            words = {"finished": "Finished", "stopped": "Stopped", "crashed": "Failed"}[status]
            panel.progress.finish(words, complete=status == "finished")
        else:
            panel.progress.reset(
                "Stopped before training began" if status == "cancelled" else "Could not start"
            )
        context = dataclasses.replace(self.coach_context, finished=True)
        if self.epoch_logs or outcome.error:
            bad = [math.nan] if (outcome.history is not None and outcome.history.reason == "unstable") else []
            panel.show_advice(coach(self.epoch_logs, context, bad))
        if outcome.error:
            panel.show_notice(outcome.error, error=True)
            self.session.error.emit(outcome.error)
        else:
            panel.show_notice(self.summary(outcome))
        run, self.live_run = self.live_run, None
        self.session.run_ended(run)  # calibrated and evaluated now: Evaluate shows the final result
        panel.reload_history()
        panel.check_design()
        self.finished.emit(outcome)

    def summary(self, outcome: TrainingOutcome) -> str:
        parts = [outcome.message or outcome.status.capitalize() + "."]
        parts.extend(kept_model_words(self.epoch_logs, outcome.history))
        seconds = sum(e.get("seconds") or 0 for e in self.epoch_logs)
        if seconds:
            parts.append(f"Training time: {duration(seconds)}.")
        if outcome.precision:
            from cnnstudio.gui.train.progress_view import precision_words

            words = precision_words(outcome.precision)  # its technical name is in the tooltip
            parts.append(words[:1].upper() + words[1:] + ".")
        return " ".join(parts)

    def _reload_live_run(self) -> None:
        if self.live_run is not None:
            self.panel.history.reload_run(self.live_run)
