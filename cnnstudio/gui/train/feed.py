"""`TrainingFeed`: the Trainer callback that carries a run's progress from the training thread to the
window, without a signal per batch.

The trainer calls it in the training thread; it only appends small tuples to a list under a lock
(about a microsecond a batch). The window drains it a few times a second (`drain()`), so a fast
loop cannot flood the event loop, however many batches a second it runs. Pause, resume and stop
requests made before the trainer exists (while the images are being decoded) are kept and applied
the moment it does.

Batch logs carry running means over the epoch (Keras' convention); the feed turns them back into
each batch's own loss and accuracy, which is what a per-batch curve should show.

Qt-free, so the benchmark and tests can drive it without a window.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any


class Abandoned(Exception):
    """Raised from on_train_end when the window is closing: the run is saved, skip what follows
    (the evaluation that train_project runs after fit)."""


@dataclass
class BatchPoint:
    x: float  # epochs, fractional: epoch + (batch + 1) / batches
    loss: float  # this batch's own loss
    accuracy: float
    lr: float


@dataclass
class FeedUpdate:
    """Everything that happened since the last drain."""

    begin: dict[str, Any] | None = None
    batches: list[BatchPoint] = field(default_factory=list)
    last_batch: dict[str, Any] | None = None
    epochs: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None
    error: str | None = None
    phase: dict[str, Any] | None = None  # the latest on_phase logs ("Computing features: 1,234 of 5,000")

    @property
    def empty(self) -> bool:
        return not (self.begin or self.batches or self.epochs or self.end or self.error or self.phase)


class TrainingFeed:
    """A Trainer callback; `drain()` from any thread (the window's timer)."""

    def __init__(self, should_stop=None, progress=None):
        self._should_stop = should_stop  # () -> bool: the task was cancelled (window closing)
        self._progress = progress  # (done, total) over the whole run, for the status bar
        self._lock = threading.Lock()
        self._update = FeedUpdate()
        self.trainer = None
        self._pending_pause = False
        self._pending_stop = False
        self.abandon = False
        self._batch_size = 1
        self._train_images = 0
        self._epochs = 1
        self._prev: tuple[int, int, float, float, int] | None = None  # epoch, batch, loss, acc, seen
        self.begin_time: float | None = None
        self.end_time: float | None = None

    # ---- control, from the GUI thread ----------------------------------------------------------
    def attach(self, trainer) -> None:
        """Called by train_project (`on_trainer`) once the trainer exists."""
        with self._lock:
            self.trainer = trainer
            if self._pending_stop:
                trainer.request_stop()
            elif self._pending_pause:
                trainer.pause()

    def pause(self) -> None:
        with self._lock:
            self._pending_pause = True
            if self.trainer is not None:
                self.trainer.pause()

    def resume(self) -> None:
        with self._lock:
            self._pending_pause = False
            if self.trainer is not None:
                self.trainer.resume()

    def request_stop(self, abandon: bool = False) -> None:
        with self._lock:
            self._pending_stop = True
            self.abandon = self.abandon or abandon
            if self.trainer is not None:
                self.trainer.request_stop()

    @property
    def stop_requested(self) -> bool:
        return self._pending_stop

    def drain(self) -> FeedUpdate:
        with self._lock:
            update, self._update = self._update, FeedUpdate()
        return update

    # ---- the callback protocol, in the training thread ------------------------------------------
    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self.begin_time = time.perf_counter()
        trainer = self.trainer
        self._batch_size = int(getattr(getattr(trainer, "config", None), "batch_size", 1) or 1)
        self._train_images = int(logs.get("train_images") or 0)
        self._epochs = int(logs.get("epochs") or 1)
        self._prev = None
        begin = dict(logs)
        # A resumed run shows the epochs it had done before.
        begin["previous_epochs"] = [dict(e) for e in getattr(getattr(trainer, "history", None), "epochs", [])]
        with self._lock:
            self._update.begin = begin

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        epoch, batches = logs["epoch"], logs["batches"]
        mean_loss, mean_acc = logs["loss"], logs["accuracy"]
        seen = min((batch + 1) * self._batch_size, self._train_images or (batch + 1) * self._batch_size)
        prev = self._prev
        if prev is not None and prev[0] == epoch and prev[1] == batch - 1 and seen > prev[4]:
            n = seen - prev[4]
            loss = (mean_loss * seen - prev[2] * prev[4]) / n
            accuracy = (mean_acc * seen - prev[3] * prev[4]) / n
        else:  # the first batch of an epoch (or of a resumed one): the running mean is all we have
            loss, accuracy = mean_loss, mean_acc
        if not math.isfinite(mean_loss):
            loss = mean_loss
        self._prev = (epoch, batch, mean_loss, mean_acc, seen)
        point = BatchPoint(epoch + (batch + 1) / batches, loss, accuracy, logs["lr"])
        with self._lock:
            self._update.batches.append(point)
            self._update.last_batch = logs
        if self._progress is not None:
            self._progress(epoch * batches + batch + 1, self._epochs * batches)
        if self._should_stop is not None and not self._pending_stop and self._should_stop():
            self.request_stop(abandon=True)

    def on_phase(self, logs: dict[str, Any]) -> None:
        with self._lock:
            self._update.phase = dict(logs)
        if self._should_stop is not None and not self._pending_stop and self._should_stop():
            self.request_stop(abandon=True)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        with self._lock:
            self._update.epochs.append(dict(logs))

    def on_exception(self, error: BaseException) -> None:
        with self._lock:
            self._update.error = str(error)

    def on_train_end(self, logs: dict[str, Any]) -> None:
        self.end_time = time.perf_counter()
        with self._lock:
            self._update.end = dict(logs)
        if self.abandon and logs.get("status") in ("finished", "stopped"):
            raise Abandoned()
