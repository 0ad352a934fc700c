"""The designer's "time per epoch": measured in a background thread, a moment after the last edit.

`EpochTimer` waits until edits pause (debounce), then runs core.train.timing in a `Task` (a QThread)
so the window never waits for it. A change while measuring cancels that measurement (checked
between training steps) and starts a new one. Results are kept per design, so undo shows the
earlier number at once. It measures only while the designer is on screen and no other long job
(the image check, training) is running, since both would make the number wrong and the job slower.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from cnnstudio.gui.model.document import DesignDocument
from cnnstudio.gui.workers import Task, TaskRunner

DEBOUNCE_MS = 800
MEASURE_SECONDS = 1.5  # of timed steps after the warm-up: enough to average, short on a busy computer
NO_DATASET_IMAGES = 1000  # without a dataset the time is given per 1,000 images

IDLE, WAITING, MEASURING, DONE, FAILED, INVALID = "idle", "waiting", "measuring", "done", "failed", "invalid"


class EpochTimer(QObject):
    """`changed(state, text)`: the state (WAITING, MEASURING, DONE, ...) and the words to show."""

    changed = Signal(str, str)

    def __init__(self, document: DesignDocument, tasks: TaskRunner, parent: QObject | None = None):
        super().__init__(parent)
        self.document = document
        self.tasks = tasks
        self.state, self.text = IDLE, ""
        self.timing = None  # the last EpochTiming shown
        self.active = False
        self.enabled = True
        self._cache: dict[str, Any] = {}
        self._task: Task | None = None
        self._again = False
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self._start)
        document.report_changed.connect(lambda _r: self.schedule())
        document.dataset_changed.connect(self.schedule)
        tasks.task_ended.connect(self._other_task_ended)

    # ---- when ----------------------------------------------------------------------------------
    def set_enabled(self, enabled: bool) -> None:
        """Off: nothing is measured (tests, or a computer busy with something else)."""
        self.enabled = enabled
        if enabled:
            self.schedule()
        else:
            self._debounce.stop()
            self._cancel()
            self._set(IDLE, "not measured")

    def set_active(self, active: bool) -> None:
        """Measure only while shown; hiding cancels a measurement in progress."""
        self.active = active
        if active:
            self.schedule()
        else:
            self._debounce.stop()
            if self._task is not None:
                self._task.cancel()
                self._again = True

    def schedule(self) -> None:
        if not self.enabled:
            return
        if not self.document.is_valid():
            self._debounce.stop()
            self._cancel()
            self._set(INVALID, "Fix the problem above to measure the time per epoch.")
            return
        cached = self._cache.get(self._key())
        if cached is not None:
            self._debounce.stop()
            self._cancel()
            self._show(cached)
            return
        self._set(MEASURING, "measuring…")
        if self.active:
            self._debounce.start()

    # ---- measuring -----------------------------------------------------------------------------
    def _key(self) -> str:
        doc = self.document
        return json.dumps(
            [doc.spec.to_dict(), doc.num_classes, doc.train_config() or {}], sort_keys=True, default=str
        )

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._again = False

    def _busy_with_other_work(self) -> str | None:
        for task in self.tasks.tasks:
            if task is not self._task and not task.quiet:
                return task.title
        return None

    def _start(self) -> None:
        if not self.active or not self.enabled or not self.document.is_valid():
            return
        if self._task is not None:  # still stopping the last one: start when it has ended
            self._task.cancel()
            self._again = True
            return
        other = self._busy_with_other_work()
        if other is not None:
            self._set(WAITING, f"measuring once “{other}” has finished…")
            return
        key = self._key()
        if key in self._cache:
            self._show(self._cache[key])
            return
        doc = self.document
        # A copy: the Train section may change the project's settings while this thread reads them.
        spec, classes, config = doc.spec, doc.num_classes, copy.deepcopy(doc.train_config())
        train_images, val_images = doc.train_images or NO_DATASET_IMAGES, doc.val_images

        def job(ctx):
            from cnnstudio.core.train.timing import TimingStopped, estimate_epoch_time

            try:
                return estimate_epoch_time(
                    spec,
                    classes,
                    train_images=train_images,
                    val_images=val_images,
                    config=config,
                    measure_validation=True,
                    max_seconds=MEASURE_SECONDS,
                    should_stop=ctx.should_stop,
                )
            except TimingStopped:
                return None

        self._set(MEASURING, "measuring…")
        task = self.tasks.start("Measuring the time per epoch", job, quiet=True)
        task.succeeded.connect(lambda timing, key=key: self._measured(key, timing))
        task.failed.connect(self._failed)
        task.done.connect(self._task_done)
        self._task = task

    def _measured(self, key: str, timing) -> None:
        if timing is None:
            return
        self._cache[key] = timing
        if key == self._key():
            self._show(timing)

    def _failed(self, message: str) -> None:
        self._set(FAILED, f"could not be measured: {message}")

    def _task_done(self) -> None:
        self._task = None
        if self._again or (self.state == MEASURING and self._key() not in self._cache):
            self._again = False
            if self.active:
                self._debounce.start()

    def _other_task_ended(self, task) -> None:
        if task is not self._task and self.state == WAITING and self.active:
            self._debounce.start()

    def _show(self, timing) -> None:
        doc = self.document
        if doc.train_images:
            timing = timing.for_dataset(doc.train_images, doc.val_images)
            text = timing.describe(per_epoch=True)
        else:
            text = timing.describe(per_epoch=False)
        self.timing = timing
        self._set(DONE, text)

    def _set(self, state: str, text: str) -> None:
        if (state, text) != (self.state, self.text):
            self.state, self.text = state, text
            self.changed.emit(state, text)

    def shutdown(self, wait_ms: int = 10000) -> None:
        """Stop measuring and wait for the thread (before the window closes)."""
        self.enabled = False
        self._debounce.stop()
        task = self._task
        if task is not None:
            task.cancel()
            task.wait(wait_ms)
