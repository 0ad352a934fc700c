"""Where the run is: a bar for the run and one for the epoch, the time left, the speed, and where and
how precisely it computes."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget

from cnnstudio.gui.style import muted_color
from cnnstudio.gui.train import text

SCALE = 1000  # progress bars count in thousandths, so a long epoch still moves smoothly


class ProgressView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_bar = QProgressBar(maximum=SCALE)
        self.epoch_bar = QProgressBar(maximum=SCALE)
        for bar in (self.run_bar, self.epoch_bar):
            bar.setTextVisible(True)
            bar.setFixedHeight(18)
        self.run_label = QLabel("Run")
        self.epoch_label = QLabel("Epoch")
        self.run_eta = QLabel()
        self.epoch_eta = QLabel()
        self.speed = QLabel()
        self.hardware = QLabel()  # the panel places it (next to the buttons)
        self.hardware.setStyleSheet(f"color: {muted_color().name()};")
        # An unforeseen device name wraps rather than widen the section (set_hardware keeps it short).
        self.hardware.setWordWrap(True)
        self.hardware.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(3)
        grid.addWidget(self.run_label, 0, 0)
        grid.addWidget(self.run_bar, 0, 1)
        grid.addWidget(self.run_eta, 0, 2)
        grid.addWidget(self.epoch_label, 1, 0)
        grid.addWidget(self.epoch_bar, 1, 1)
        grid.addWidget(self.epoch_eta, 1, 2)
        grid.addWidget(self.speed, 1, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnMinimumWidth(2, 90)
        grid.setColumnMinimumWidth(3, 120)
        self.reset()

    def reset(self, status: str = "") -> None:
        self.epochs = 0
        self.batches = 0
        self.epoch = 0
        self.batch = 0
        self.initial_epoch = 0
        self.train_images = 0
        self.epoch_seconds: list[float] = []
        self.phase_seconds = 0.0  # one-off work inside the current epoch (features), left out of the ETA
        self.images_per_s: float | None = None
        self._epoch_started = time.monotonic()
        self.run_bar.setValue(0)
        self.epoch_bar.setValue(0)
        self.run_bar.setFormat(status or "Not started")
        self.epoch_bar.setFormat("")
        self.run_eta.setText("")
        self.epoch_eta.setText("")
        self.speed.setText("")
        self.hardware.setText("")

    def finish(self, status: str, complete: bool) -> None:
        """The run ended: no time left to show; the run bar full when it completed."""
        if complete:
            self.run_bar.setValue(SCALE)
        self.run_bar.setFormat(status)
        self.epoch_bar.setRange(0, SCALE)
        self.epoch_bar.setValue(0)
        self.epoch_bar.setFormat("")
        self.run_eta.setText("")
        self.epoch_eta.setText("")

    def checking(self, text: str) -> None:
        """Training is over and the kept model is being checked: say so, not "Batch 0 of N, 0:07 left"."""
        self.run_bar.setValue(SCALE)
        self.run_bar.setFormat(text)
        self.epoch_bar.setRange(0, 0)  # busy, of unknown length
        self.epoch_bar.setFormat("")
        self.run_eta.setText("")
        self.epoch_eta.setText("")

    def set_status(self, status: str) -> None:
        """Words in the run bar while nothing is counted (decoding, finished, ...)."""
        self.run_bar.setFormat(status)

    def began(self, logs: dict[str, Any]) -> None:
        self.epoch_bar.setRange(0, SCALE)
        self.epochs = int(logs.get("epochs") or 0)
        self.batches = int(logs.get("batches") or 0)
        self.initial_epoch = self.epoch = int(logs.get("initial_epoch") or 0)
        self.train_images = int(logs.get("train_images") or self.batches)
        self.batch = 0
        self.set_hardware(str(logs.get("device", "")), str(logs.get("precision", "")))
        self._draw()

    def set_hardware(self, device: str, precision: str) -> None:
        gpu = f" {device.split(':', 1)[1]}" if ":" in device else ""
        if device == "cpu":
            where, short = "the processor (CPU)", "CPU"
        elif device.startswith("cuda"):
            where, short = f"the GPU{gpu}", f"GPU{gpu}"
        elif device == "mps":
            where, short = "the Apple GPU", "Apple GPU"
        else:
            where = short = device
        # Short beside the buttons, where a 1000-pixel window has about 170 pixels left; in words, and
        # the technical name and why (e.g. "bf16 mixed (CPU has AVX512-BF16)"), in the tooltip.
        kind = precision_kind(precision)
        self.hardware.setText(f"{short} · {kind}" if kind else short)
        words = precision_words(precision)
        self.hardware.setToolTip(
            f"Precision: {precision}\nOn {where}, {words}." if precision else f"On {where}."
        )

    def phase(self, logs: dict[str, Any]) -> None:
        """Work before the batches (the feature cache): "Computing features: 1,234 of 5,000" in the
        epoch bar; once finished, what it did (the first batch then redraws the bar)."""
        done, total = int(logs.get("done") or 0), int(logs.get("total") or 0)
        name = str(logs.get("phase") or "Preparing")
        if "finished" in logs:
            self.phase_seconds = float(logs.get("seconds") or 0.0)
            if not logs["finished"]:
                self.epoch_bar.setFormat(f"{name}: stopped after {done:,}")
            elif done:
                self.epoch_bar.setFormat(
                    f"{name}: {done:,} done in {text.duration(logs.get('seconds') or 0)}"
                )
            else:
                self.epoch_bar.setFormat(
                    f"Features of {int(logs.get('reused') or 0):,} pictures from the cache"
                )
            return
        self.epoch_bar.setValue(int(SCALE * done / total) if total else 0)
        self.epoch_bar.setFormat(f"{name}: {done:,} of {total:,}")
        self.epoch_eta.setText("")

    def batch_done(self, logs: dict[str, Any]) -> None:
        self.epoch = int(logs["epoch"])
        self.batch = int(logs["batch"]) + 1
        self.batches = int(logs.get("batches") or self.batches)
        self.images_per_s = logs.get("images_per_s") or self.images_per_s
        self._draw()

    def epoch_done(self, logs: dict[str, Any]) -> None:
        self.epoch = int(logs["epoch"]) + 1
        self.batch = 0
        if logs.get("seconds"):
            self.epoch_seconds.append(max(float(logs["seconds"]) - self.phase_seconds, 1e-6))
        self.phase_seconds = 0.0
        if logs.get("images_per_s"):
            self.images_per_s = float(logs["images_per_s"])
        self._draw()

    def _draw(self) -> None:
        if not self.epochs or not self.batches:
            return
        done = min(self.epochs, self.epoch + self.batch / self.batches)
        self.run_bar.setValue(int(SCALE * done / self.epochs))
        self.run_bar.setFormat(f"Epoch {min(self.epoch + 1, self.epochs)} of {self.epochs}")
        self.epoch_bar.setValue(int(SCALE * self.batch / self.batches))
        self.epoch_bar.setFormat(f"Batch {self.batch} of {self.batches}")
        self.speed.setText(text.rate(self.images_per_s))
        epoch_left = self._epoch_seconds_left()
        self.epoch_eta.setText(f"{text.duration(epoch_left)} left" if epoch_left is not None else "")
        run_left = self._run_seconds_left(epoch_left)
        self.run_eta.setText(f"{text.duration(run_left)} left" if run_left is not None else "")

    def _seconds_per_batch(self) -> float | None:
        """Whole epochs (validation included) once one is done; before that, the speed so far (the
        trainer excludes pauses from both)."""
        if self.epoch_seconds:
            recent = self.epoch_seconds[-3:]
            return sum(recent) / len(recent) / self.batches
        if self.images_per_s and self.batch:
            return self.train_images / self.batches / self.images_per_s
        return None

    def _epoch_seconds_left(self) -> float | None:
        per_batch = self._seconds_per_batch()
        return None if per_batch is None else (self.batches - self.batch) * per_batch

    def _run_seconds_left(self, epoch_left: float | None) -> float | None:
        per_batch = self._seconds_per_batch()
        if per_batch is None or epoch_left is None:
            return None
        return epoch_left + max(0, self.epochs - self.epoch - 1) * self.batches * per_batch


def precision_kind(precision: str) -> str:
    """ "half precision", "full precision", or the technical name when it is neither."""
    if precision.startswith(("bf16", "fp16")):
        return "half precision"
    return "full precision" if precision.startswith("float32") else precision


def precision_words(precision: str) -> str:
    """The number format in words: "bf16 mixed (CPU has AVX512-BF16)" -> "... (half precision)"."""
    kind = precision_kind(precision)
    if kind == "half precision":
        return "faster, shorter numbers (half precision)"
    if kind == "full precision":
        return kind
    return f"precision: {precision}" if precision else ""
