"""'Find a good learning rate': the LR range test in the background, its curve, and the suggestion one
click away.

The test trains a copy of the model for a few dozen batches while the learning rate grows from tiny
to huge; the loss first falls faster and faster, then blows up. The suggestion is where it fell
fastest. The real model is not touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.gui.train.text import learning_rate
from cnnstudio.gui.widgets.plot import themed_plot
from cnnstudio.gui.workers import Task, TaskContext, TaskRunner

SUGGESTION_COLOR = "#e15759"


class LRFinderDialog(QDialog):
    use_lr = Signal(float)

    def __init__(
        self, tasks: TaskRunner, job: Callable[[TaskContext], object], parent: QWidget | None = None
    ):
        """`job(ctx)` runs the test in a worker and returns an LRFindResult."""
        super().__init__(parent)
        self.setWindowTitle("Find a good learning rate")
        self.resize(620, 460)
        self.tasks = tasks
        self.job = job
        self.task: Task | None = None
        self.result = None
        self._phase_text = "Preparing"

        self.plot = themed_plot("", "learning rate", "loss (smoothed)")  # the app's one chart styling
        self.plot.getPlotItem().setLogMode(x=True)
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#4e79a7", width=2))
        self.marker = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(SUGGESTION_COLOR, width=1.5, style=Qt.PenStyle.DashLine)
        )
        self.marker.hide()
        self.plot.addItem(self.marker)
        # The lowest loss, in grey: the suggestion (red) is left of it, where the loss fell fastest.
        self.lowest_marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#888888", width=1))
        self.lowest_marker.hide()
        self.plot.addItem(self.lowest_marker)

        self.explain = QLabel(
            "Training a copy of the model for a short while, with the learning rate growing from tiny to "
            "huge. A good learning rate is where the loss falls fastest."
        )
        self.explain.setWordWrap(True)
        self.status = QLabel("Preparing…")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.use_button = QPushButton("Use the suggestion")
        self.use_button.setEnabled(False)
        self.use_button.setDefault(True)
        self.use_button.clicked.connect(self._use)
        self.again_button = QPushButton("Run again")
        self.again_button.clicked.connect(self.start)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)

        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.again_button)
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.explain)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

    # ---- running -------------------------------------------------------------------------------
    def start(self) -> None:
        if self.task is not None:
            return
        self.result = None
        self.use_button.setEnabled(False)
        self.again_button.setEnabled(False)
        self.marker.hide()
        self.curve.setData([], [])
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText("Preparing the pictures and the model…")
        task = self.tasks.start(
            "Finding a good learning rate", self.job, on_success=self.show_result, on_error=self._failed
        )
        task.progressed.connect(self._progress)
        task.text_changed.connect(self._phase)
        task.done.connect(self._ended)
        self.task = task

    def _phase(self, text: str) -> None:
        self._phase_text = text
        self.progress.setRange(0, 0)
        self.status.setText(f"{text}…")

    def _progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            unit = "batch" if self._phase_text.startswith("Trying") else "picture"
            self.status.setText(
                f"{self._phase_text}: {unit} {done:,} of {'up to ' if unit == 'batch' else ''}{total:,}…"
            )

    def _ended(self) -> None:
        self.task = None
        self.again_button.setEnabled(True)
        self.progress.hide()

    def _failed(self, message: str) -> None:
        self.status.setText(f"The test could not run: {message}")

    def show_result(self, result) -> None:
        self.result = result
        lrs = np.asarray(result.lrs, dtype=float)
        losses = np.asarray(result.losses, dtype=float)
        keep = np.isfinite(losses) & (lrs > 0)
        self.curve.setData(lrs[keep], losses[keep])
        if len(losses[keep]):
            low, high = float(np.min(losses[keep])), float(np.percentile(losses[keep], 95))
            self.plot.setYRange(low, max(high, low + 1e-6), padding=0.05)
        suggestion = result.suggestion
        if suggestion is None or not math.isfinite(suggestion) or suggestion <= 0:
            self.status.setText(
                "The test was too short to suggest a learning rate. Try a smaller batch size, or keep 0.001."
            )
            return
        self.marker.setPos(math.log10(suggestion))
        self.marker.show()
        lowest = result.min_loss_lr
        if lowest is not None and math.isfinite(lowest) and lowest > 0:
            self.lowest_marker.setPos(math.log10(lowest))
            self.lowest_marker.show()
        self.use_button.setText(f"Use {learning_rate(suggestion)}")
        self.use_button.setEnabled(True)
        self.status.setText(lr_caption(suggestion, lowest))

    def _use(self) -> None:
        if self.result is not None:
            self.use_lr.emit(float(self.result.suggestion))
            self.accept()

    def done(self, code: int) -> None:  # closing: stop the test
        if self.task is not None:
            self.task.cancel()
        super().done(code)


def lr_caption(suggestion: float, lowest: float | None) -> str:
    """What the red line is, truly: where the loss fell fastest, or (a short test) a tenth of the lowest."""
    if lowest is not None and math.isfinite(lowest) and lowest > 0 and math.isclose(suggestion, lowest / 10):
        return (
            f"Suggested learning rate: {learning_rate(suggestion)} (the red line): one tenth of where the "
            f"loss was lowest ({learning_rate(lowest)}, the grey line). The test was too short to see "
            "where the loss fell fastest."
        )
    tail = (
        f" The grey line marks the lowest loss ({learning_rate(lowest)}); past it the steps are too big."
        if lowest is not None and math.isfinite(lowest) and lowest > 0
        else ""
    )
    return (
        f"Suggested learning rate: {learning_rate(suggestion)} (the red line, where the loss was "
        f"falling fastest).{tail}"
    )
