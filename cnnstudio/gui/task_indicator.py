"""The status bar's view of long work: what runs, how far it is, and a Cancel button."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from cnnstudio.gui.workers import Task, TaskRunner


class TaskIndicator(QWidget):
    """Shows the newest running task (quiet ones are housekeeping and not shown)."""

    def __init__(self, runner: TaskRunner, parent=None):
        super().__init__(parent)
        self.runner = runner
        self.task: Task | None = None
        self.label = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setFixedWidth(180)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        runner.task_started.connect(self._started)
        runner.task_ended.connect(self._ended)
        self.hide()

    def _started(self, task: Task) -> None:
        if task.quiet:
            return
        self._follow(task)

    def _follow(self, task: Task | None) -> None:
        if self.task is not None:
            try:
                self.task.progressed.disconnect(self._progress)
                self.task.text_changed.disconnect(self.label.setText)
            except (RuntimeError, TypeError):
                pass
        self.task = task
        if task is None:
            self.hide()
            return
        self.label.setText(task.title + "…")
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.cancel_button.setVisible(task.cancellable)
        self.cancel_button.setEnabled(True)
        task.progressed.connect(self._progress)
        task.text_changed.connect(self.label.setText)
        self.show()

    def _progress(self, done: int, total: int) -> None:
        if total <= 0:
            self.bar.setRange(0, 0)
            return
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        self.bar.setFormat(f"{done:,} / {total:,}")

    def _ended(self, task: Task) -> None:
        if task is not self.task:
            return
        others = [t for t in self.runner.tasks if not t.quiet]
        self._follow(others[-1] if others else None)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.cancel_button.setEnabled(False)
            self.label.setText(f"Stopping: {self.task.title.lower()}…")
