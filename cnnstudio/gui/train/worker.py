"""`TrainingWorker`: a training job in a QThread, its progress as throttled signals.

The job runs as a task of the session's `TaskRunner` (so the status bar shows it, with Cancel, and
closing the window cancels it). The trainer reports to a `TrainingFeed`; a timer in the GUI thread
drains the feed every `DRAIN_MS` and emits one `updated(FeedUpdate)` with everything since the last
drain: a few signals a second, whatever the speed of training.

    worker = TrainingWorker(session.tasks)
    worker.updated.connect(panel.apply_update)
    worker.finished.connect(panel.training_ended)   # TrainingOutcome
    worker.start("Training seed", lambda ctx, feed: train_project(..., callbacks=[feed],
                                                                 on_trainer=feed.attach))
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from cnnstudio.core.errors import UserError
from cnnstudio.gui.train.feed import Abandoned, FeedUpdate, TrainingFeed
from cnnstudio.gui.workers import Task, TaskContext, TaskRunner

DRAIN_MS = 250  # plots and progress refresh 4 times a second


@dataclass
class TrainingOutcome:
    """How a training job ended. status: finished | stopped | crashed | cancelled (before training
    began) | failed (an error before or after the training itself)."""

    status: str
    message: str = ""
    error: str | None = None  # a message to show as an error
    run_dir: Path | None = None
    history: Any = field(default=None, repr=False)  # core.train.History
    result: Any = field(default=None, repr=False)  # core.pipeline.TrainingResult when train_project returned
    precision: str = ""


def _outcome_from_trainer(feed: TrainingFeed, result: Any = None) -> TrainingOutcome:
    trainer = feed.trainer
    history = result.history if result is not None else getattr(trainer, "history", None)
    run_dir = result.run_dir if result is not None else getattr(trainer, "run_dir", None)
    precision = getattr(trainer, "precision_label", "") if trainer is not None else ""
    if history is None:
        return TrainingOutcome("cancelled", "Stopped before training began.")
    error = str(history.error) if getattr(history, "error", None) is not None else None
    if error is None and history.status == "crashed":
        error = history.message
    return TrainingOutcome(
        history.status, history.message, error, run_dir, history, result, precision=precision
    )


class TrainingWorker(QObject):
    began = Signal(dict)  # on_train_begin's logs: epochs, batches, device, precision, run_dir
    updated = Signal(object)  # FeedUpdate
    finished = Signal(object)  # TrainingOutcome
    progressed = Signal(int, int)  # the task's progress: decoding pictures, then batches of the run

    def __init__(self, tasks: TaskRunner, parent: QObject | None = None, interval_ms: int = DRAIN_MS):
        super().__init__(parent)
        self.tasks = tasks
        self.feed: TrainingFeed | None = None
        self.task: Task | None = None
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self._drain)

    # ---- control -------------------------------------------------------------------------------
    def start(self, title: str, job: Callable[[TaskContext, TrainingFeed], Any]) -> None:
        """Run `job(ctx, feed)` in a thread; it must pass `feed` to the trainer as a callback and
        `feed.attach` as `on_trainer`. It returns a TrainingResult (or a History)."""
        if self.is_running():
            raise RuntimeError("a training job is already running")
        feed = TrainingFeed()
        self.feed = feed

        def run(ctx: TaskContext) -> TrainingOutcome:
            feed._should_stop = ctx.should_stop
            feed._progress = ctx.progress
            return self._run(job, ctx, feed)

        task = self.tasks.start(title, run)
        self.task = task
        task.progressed.connect(self.progressed)
        task.done.connect(lambda: self._done(task))
        self._timer.start()

    @staticmethod
    def _run(job, ctx: TaskContext, feed: TrainingFeed) -> TrainingOutcome:
        try:
            result = job(ctx, feed)
        except Abandoned:
            return _outcome_from_trainer(feed)
        except UserError as exc:
            outcome = _outcome_from_trainer(feed) if feed.trainer is not None else None
            if outcome is not None and outcome.status in ("finished", "stopped"):
                outcome.error = f"The run was saved, but a step after training failed: {exc}"
                return outcome
            if feed.stop_requested and feed.trainer is None:
                return TrainingOutcome("cancelled", "Stopped before training began.")
            return TrainingOutcome("failed", str(exc), str(exc))
        except Exception as exc:  # a bug or a broken environment: say so, keep the app alive
            traceback.print_exc(file=sys.stderr)
            text = f"{type(exc).__name__}: {exc}"
            outcome = _outcome_from_trainer(feed) if feed.trainer is not None else None
            if outcome is None:
                return TrainingOutcome("failed", text, f"Training could not start: {text}")
            if outcome.status in ("finished", "stopped"):
                outcome.error = f"The run was saved, but a step after training failed: {text}"
            else:  # the trainer wrote state.json ("crashed") and its message before raising
                outcome.status = "crashed"
                outcome.error = outcome.message or f"Training failed: {text}"
            return outcome
        if result is None:  # the job saw the stop before the trainer existed
            return TrainingOutcome("cancelled", "Stopped before training began.")
        if hasattr(result, "history"):
            return _outcome_from_trainer(feed, result)
        return TrainingOutcome(getattr(result, "status", "finished"), getattr(result, "message", ""))

    def pause(self) -> None:
        if self.feed is not None:
            self.feed.pause()

    def resume(self) -> None:
        if self.feed is not None:
            self.feed.resume()

    def stop(self, abandon: bool = False) -> None:
        """Stop after the current batch (the trainer saves a checkpoint). `abandon` also skips the
        evaluation that follows training (the window is closing)."""
        if self.feed is not None:
            self.feed.request_stop(abandon=abandon)

    def is_running(self) -> bool:
        return self.task is not None

    @property
    def paused(self) -> bool:
        trainer = self.feed.trainer if self.feed is not None else None
        return bool(self.feed is not None and (self.feed._pending_pause or getattr(trainer, "paused", False)))

    def wait(self, timeout_s: float) -> bool:
        """Block until the job's thread ends (True) or the time is up (False); then report the end."""
        task = self.task
        if task is None:
            return True
        if not task.wait(int(timeout_s * 1000)):
            return False
        self._done(task)
        return True

    # ---- reporting -----------------------------------------------------------------------------
    def _drain(self) -> None:
        if self.feed is None:
            return
        update: FeedUpdate = self.feed.drain()
        if update.begin is not None:
            self.began.emit(update.begin)
        if not update.empty:
            self.updated.emit(update)

    def _done(self, task: Task) -> None:
        if task is not self.task:
            return  # already reported (wait() and the done signal both end up here)
        self._timer.stop()
        self._drain()
        outcome = task.result
        if not isinstance(outcome, TrainingOutcome):  # the job itself never raises; this is a safety net
            outcome = TrainingOutcome(
                "failed", task.error or "", task.error or "The training job ended without a result."
            )
        self.task = None
        self.finished.emit(outcome)
