"""QThread adapters: run a core job off the GUI thread and turn its callbacks into signals.

Core jobs take `progress(done, total)` and `should_stop()` (ARCHITECTURE.md, "Threads and signals").
A `Task` runs one job in its own QThread and re-emits those calls as throttled signals, so a job that
reports every file cannot flood the event loop. `TaskRunner` keeps the running tasks alive, tells the
status bar what runs, and cancels everything when the window closes.

    task = runner.start("Checking images", lambda ctx: check_images(index, progress=ctx.progress,
                                                                     should_stop=ctx.should_stop))
    task.succeeded.connect(show)
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from cnnstudio.core.errors import UserError

_PROGRESS_INTERVAL_S = 0.05  # at most 20 progress signals a second per task


class TaskContext:
    """What a job sees: report progress, ask whether to stop, hand back partial results."""

    def __init__(self, task: Task):
        self._task = task
        self._last = 0.0

    def progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last >= _PROGRESS_INTERVAL_S:
            self._last = now
            self._task._event.emit("progressed", (int(done), int(total)))

    def should_stop(self) -> bool:
        return self._task._stop.is_set()

    def partial(self, value: Any) -> None:
        """Send a piece of the result to the GUI thread now (the problems list fills as it goes)."""
        self._task._event.emit("partial", value)

    def set_text(self, text: str) -> None:
        self._task._event.emit("text_changed", text)


class Task(QThread):
    """One job in its own thread. Exactly one of succeeded / failed / cancelled, then `done`.

    The public signals are emitted in the GUI thread (relayed through `_event`, which the worker
    thread emits and a slot of this GUI-thread object receives), so plain functions and lambdas
    connected to them run in the GUI thread too.
    """

    _event = Signal(str, object)
    progressed = Signal(int, int)
    partial = Signal(object)
    text_changed = Signal(str)
    succeeded = Signal(object)
    failed = Signal(str)  # a message for the user
    cancelled = Signal()
    done = Signal()

    def __init__(
        self,
        title: str,
        job: Callable[[TaskContext], Any],
        cancellable: bool = True,
        quiet: bool = False,
        background: bool = False,
        parent=None,
    ):
        super().__init__(parent)
        self.title = title
        self.cancellable = cancellable
        self.quiet = quiet  # short housekeeping: the status bar does not show it
        self.background = background  # runs at low CPU priority (so do processes it starts)
        self._job = job
        self._stop = threading.Event()
        self.result: Any = None
        self.error: str | None = None
        self._event.connect(self._relay)

    @Slot(str, object)
    def _relay(self, kind: str, value: Any) -> None:
        if kind == "progressed":
            self.progressed.emit(*value)
        elif kind in ("partial", "succeeded"):
            getattr(self, kind).emit(value)
        elif kind in ("text_changed", "failed"):
            getattr(self, kind).emit(value)
        elif kind == "cancelled":
            self.cancelled.emit()
        elif kind == "done":
            self.done.emit()

    def cancel(self) -> None:
        self._stop.set()

    @property
    def cancel_requested(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:  # in the worker thread
        if self.background:
            _lower_priority()
        try:
            self.result = self._job(TaskContext(self))
        except UserError as exc:
            self.error = str(exc)
        except Exception as exc:  # a bug: keep the app alive, say so, keep the traceback for a report
            traceback.print_exc(file=sys.stderr)
            self.error = f"Something went wrong while {self.title.lower()}: {type(exc).__name__}: {exc}"
        if self.error is not None and not self._stop.is_set():
            self._event.emit("failed", self.error)
        elif self._stop.is_set():
            self._event.emit("cancelled", None)
        else:
            self._event.emit("succeeded", self.result)
        self._event.emit("done", None)


def _lower_priority() -> None:
    """Give this thread (and the worker processes it starts, which inherit it) a low CPU priority,
    so work the user is not watching never takes the cores the window needs to stay smooth."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # Linux: per thread
    except (AttributeError, OSError):
        pass  # other systems: the thread keeps its priority


class TaskRunner(QObject):
    """Starts tasks, keeps them referenced until they end, and reports what runs."""

    task_started = Signal(object)  # Task
    task_ended = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._tasks: list[Task] = []
        # When the runner goes (its session or window closed), its tasks still running or with a
        # result on its way are no longer listened to: their callbacks belong to what has gone.
        self.destroyed.connect(partial(_abandon, self._tasks))

    @property
    def tasks(self) -> list[Task]:
        return list(self._tasks)

    def start(
        self,
        title: str,
        job: Callable[[TaskContext], Any],
        *,
        on_success: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_partial: Callable[[Any], None] | None = None,
        cancellable: bool = True,
        quiet: bool = False,
        background: bool = False,
    ) -> Task:
        # No Qt parent: a running thread must outlive whatever runner or window started it (Qt aborts the
        # whole process when a running QThread is destroyed); _LIVE keeps it until its thread has ended.
        task = Task(title, job, cancellable=cancellable, quiet=quiet, background=background)
        _LIVE.add(task)
        task.finished.connect(partial(_release, task))
        if on_success is not None:
            task.succeeded.connect(on_success)
        if on_error is not None:
            task.failed.connect(on_error)
        if on_partial is not None:
            task.partial.connect(on_partial)
        task.done.connect(self._task_done)  # a method of this runner: no call once the runner is gone
        self._tasks.append(task)
        self.task_started.emit(task)
        task.start()
        return task

    @Slot()
    def _task_done(self) -> None:
        task = self.sender()
        task.wait()
        if task in self._tasks:
            self._tasks.remove(task)
            self.task_ended.emit(task)

    def cancel_all(self, wait_ms: int = 5000) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            if not task.wait(wait_ms):
                _let_finish_alone(task)
                self._tasks.remove(task)

    def busy(self) -> bool:
        return bool(self._tasks)


_LIVE: set[Task] = set()  # every task whose thread has not ended yet


def _release(task: Task) -> None:
    task.wait()  # the thread has ended (finished comes last), so the object can go
    _LIVE.discard(task)


def _let_finish_alone(task: Task) -> None:
    """A task still running after cancel_all (a step that does not look at the stop flag, on a busy
    computer): nobody listens to it any more; it ends on its own and is released then."""
    for signal in (task.progressed, task.partial, task.text_changed, task.succeeded, task.failed,
                   task.cancelled, task.done):  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # PySide warns when nothing was connected
            try:
                signal.disconnect()
            except (RuntimeError, TypeError):
                pass  # nothing connected


def _abandon(tasks: list[Task], *_args) -> None:
    for task in list(tasks):
        _let_finish_alone(task)
