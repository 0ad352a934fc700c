"""The design at a glance: parameters (trainable and frozen), FLOPs per image, memory, classes, the
measured time per epoch, and whether it can be trained (or the problem that stops it)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QFrame, QLabel, QVBoxLayout, QWidget

from cnnstudio.core.spec import ShapeReport
from cnnstudio.core.spec.report import format_bytes, format_count
from cnnstudio.gui.model.card import missing_weights_mb, without_commands
from cnnstudio.gui.model.document import DesignDocument
from cnnstudio.gui.model.timing_worker import DONE, FAILED, EpochTimer
from cnnstudio.gui.style import muted_color, warning_color
from cnnstudio.gui.style.theme import error_color

OK_COLOR = "#2e8b57"


class SummaryPanel(QFrame):
    def __init__(
        self, document: DesignDocument, timer: EpochTimer | None = None, parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.document = document
        self.setObjectName("SummaryPanel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.params = QLabel(self)
        self.params.setWordWrap(True)
        self.flops = QLabel(self)
        self.memory = QLabel(self)
        self.memory.setWordWrap(True)
        self.classes = QLabel(self)
        self.classes.setWordWrap(True)
        self.epoch_time = QLabel("measuring…", self)
        self.epoch_time.setWordWrap(True)
        self.notes = QLabel(self)
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet(f"color:{warning_color().name()}")
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        form.addRow(self._label("Parameters"), self.params)
        flops_label = self._label("Calculations")  # "FLOPs" is jargon: the word stays in the tooltip
        flops_label.setToolTip("FLOPs: the floating-point operations the model does to classify one picture.")
        form.addRow(flops_label, self.flops)
        form.addRow(self._label("Memory"), self.memory)
        form.addRow(self._label("Classes"), self.classes)
        form.addRow(self._label("Time per epoch"), self.epoch_time)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Summary</b>", self))
        layout.addWidget(self.status)
        layout.addLayout(form)
        layout.addWidget(self.notes)
        document.report_changed.connect(self.show_report)
        document.dataset_changed.connect(lambda: self.show_report(document.report))
        if timer is not None:
            timer.changed.connect(self.show_time)
        self.show_report(document.report)

    def _label(self, text: str) -> QLabel:
        label = QLabel(text, self)
        label.setStyleSheet(f"color:{muted_color().name()}")
        return label

    def show_report(self, report: ShapeReport) -> None:
        self.params.setText(
            f"<b>{report.total_params:,}</b> ({report.trainable_params:,} trainable, {report.frozen_params:,} frozen)"
        )
        self.flops.setText(f"{format_count(report.flops)} per image")
        self.flops.setToolTip(f"{report.flops:,} FLOPs (floating-point operations) per image")
        self.memory.setText(
            f"{format_bytes(report.memory_bytes)} per image (weights and every layer's output)"
        )
        doc = self.document
        if doc.classes_known:
            self.classes.setText(f"{doc.num_classes} in the dataset; the last layer follows them")
        else:
            self.classes.setText(
                f"{doc.num_classes} for now: the last layer will follow your dataset's classes"
            )
        missing = missing_weights_titles(doc.spec.layers)
        if report.ok and missing:  # trains, but not "ready": the card says it will not learn well
            self.status.setText(f"⚠ Can train, but will not learn well: {missing} has no pre-trained weights")
            self.status.setStyleSheet(f"color:{warning_color().name()}; font-weight:bold")
        elif report.ok:
            self.status.setText("✓ Ready to train")
            self.status.setStyleSheet(f"color:{OK_COLOR}; font-weight:bold")
        else:
            self.status.setText(f"⚠ This design cannot be trained yet. {report.error}")
            self.status.setStyleSheet(f"color:{error_color().name()}")
        self.notes.setVisible(bool(report.notes))
        self.notes.setText("\n".join(without_commands(note) for note in report.notes))

    def show_time(self, state: str, text: str) -> None:
        self.epoch_time.setText(text)
        color = error_color().name() if state == FAILED else (None if state == DONE else muted_color().name())
        self.epoch_time.setStyleSheet(f"color:{color}" if color else "")


def missing_weights_titles(layers) -> str:
    """The networks (by their title) whose pre-trained weights this computer lacks, '' when none."""
    from cnnstudio.core.spec.backbones import BACKBONES

    names = [BACKBONES[layer.arch].title for layer in layers if missing_weights_mb(layer) is not None]
    return " and ".join(names)
