"""The Evaluate section: choose a run and a set of pictures, then see what the model gets wrong.

Left: the confusion matrix (counts or percentages) and the metrics table. Middle: the pictures of the
chosen cell (most confident first), the worst mistakes, and the likely label errors with Relabel,
Accept and Exclude. Right: the chosen picture, its probabilities and a Grad-CAM overlay.

The view holds the widgets and draws a report; evaluating, the check that training has since saved a
better model, Grad-CAM and the fixes are `view.jobs`, an `EvaluationController` (controller.py).
Evaluating, loading a saved evaluation and Grad-CAM run in the session's workers; every fix goes on
the session's undo stack (labels through the dataset browser's LabelCommand, exclusions through its
ExcludeCommand), so Ctrl+Z gives the project back its labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.runs import model_state, trained_runs
from cnnstudio.gui.evaluate.confusion import ConfusionMatrixView
from cnnstudio.gui.evaluate.controller import EvaluationController
from cnnstudio.gui.evaluate.gallery import GalleryItem, GalleryView
from cnnstudio.gui.evaluate.image_panel import ImagePanel, Picture
from cnnstudio.gui.evaluate.issues_list import Issue, IssuesList
from cnnstudio.gui.evaluate.jobs import model_stamp
from cnnstudio.gui.evaluate.metrics_table import EXPLANATIONS, MetricsTable, percent
from cnnstudio.gui.evaluate.reliability import CalibrationPage
from cnnstudio.gui.evaluate.report_file import split_words
from cnnstudio.gui.evaluate.review import ReviewStore
from cnnstudio.gui.filenames import file_name_part
from cnnstudio.gui.style import icon, muted_color
from cnnstudio.gui.thumbnails import ThumbnailLoader
from cnnstudio.gui.widgets.fold import FoldingSplitter, WrappedLabel

if TYPE_CHECKING:
    from cnnstudio.core.evaluate import EvaluationReport
    from cnnstudio.gui.session import ProjectSession

SPLITS = (
    ("val", "Validation pictures"),
    ("test", "Test pictures"),
    ("train", "Training pictures (optimistic: the model learnt them)"),
)
ANOTHER_FOLDER = "Another folder…"
TOP_LOSSES = 60


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


class EvaluationPanel(QWidget):
    report_shown = Signal(object)  # EvaluationReport
    overlay_shown = Signal(object)  # QImage

    def __init__(self, session: ProjectSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.report: EvaluationReport | None = None
        self.run_dir: Path | None = None
        self.folder: Path | None = None
        self.review = ReviewStore(None)
        self.loader = ThumbnailLoader(parent=self)
        self._filling = False
        self._sized_for = 0
        self.summary_text = ""
        self.jobs = EvaluationController(self)

        # ---- top bar -------------------------------------------------------------------------------
        self.run_combo = QComboBox(self)
        self.run_combo.setMinimumContentsLength(18)
        self.run_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.run_combo.setToolTip("The trained run to evaluate (newest first).")
        self.split_combo = QComboBox(self)
        self.split_combo.setMinimumContentsLength(16)
        self.split_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        for key, text in SPLITS:
            self.split_combo.addItem(text, key)
        self.split_combo.addItem(ANOTHER_FOLDER, "")
        self.split_combo.setToolTip(
            "Which pictures to check the model on. Validation and test pictures were not used to "
            "train it; another folder must have one sub-folder per class."
        )
        self.evaluate_button = QPushButton("Evaluate again", self)
        self.evaluate_button.setToolTip(
            "Run the model on these pictures again (after relabelling, for instance)."
        )
        self.report_button = QPushButton(icon("save"), "Export report…", self)
        self.report_button.setToolTip(
            "Save an HTML page with the metrics, the matrix and the curves, and a CSV."
        )
        self.export_button = QPushButton(icon("save"), "Export model…", self)
        self.export_button.setToolTip(
            "Save this run as a model file (.cnnmodel, ONNX or TorchScript), checked."
        )
        top = QHBoxLayout()
        top.addWidget(QLabel("Run:", self))
        top.addWidget(self.run_combo, 1)
        top.addWidget(QLabel("Pictures:", self))
        top.addWidget(self.split_combo)
        top.addWidget(self.evaluate_button)
        self.summary = WrappedLabel(self)
        summary_row = QHBoxLayout()  # the buttons beside the summary: the run's name fits 1000 x 700
        summary_row.addWidget(self.summary, 1)
        summary_row.addWidget(self.report_button, 0, Qt.AlignmentFlag.AlignTop)
        summary_row.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignTop)
        self.summary.setToolTip(EXPLANATIONS["accuracy"])

        # ---- left: matrix and metrics --------------------------------------------------------------
        self.confusion = ConfusionMatrixView(self)
        self.counts_button = QRadioButton("Counts", self)
        self.percent_button = QRadioButton("Percent of each true class", self)
        self.counts_button.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.counts_button)
        group.addButton(self.percent_button)
        self.percent_button.toggled.connect(self.confusion.set_normalized)
        hint = QLabel("Rows: what each picture is. Columns: what the model said. Click a cell.", self)
        hint.setStyleSheet(f"color: {muted_color().name()}")
        hint.setWordWrap(True)
        toggles = QHBoxLayout()
        toggles.addWidget(self.counts_button)
        toggles.addWidget(self.percent_button)
        toggles.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.confusion)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        matrix_page = QWidget(self)
        matrix_layout = QVBoxLayout(matrix_page)
        matrix_layout.addLayout(toggles)
        matrix_layout.addWidget(hint)
        matrix_layout.addWidget(scroll, 1)
        self.metrics = MetricsTable(self)
        self.left_tabs = QTabWidget(self)
        self.left_tabs.addTab(matrix_page, "Confusion matrix")
        self.left_tabs.addTab(self.metrics, "Metrics")

        # ---- middle: pictures ----------------------------------------------------------------------
        self.cell_caption = QLabel(self, wordWrap=True)
        self.cell_gallery = GalleryView(self.loader, self)
        cell_page = QWidget(self)
        cell_layout = QVBoxLayout(cell_page)
        cell_layout.addWidget(self.cell_caption)
        cell_layout.addWidget(self.cell_gallery, 1)
        self.losses_caption = QLabel(
            "The pictures the model was most wrong about (highest loss first): often a wrong label, "
            "an odd picture, or a class the model has not learnt yet.",
            self,
            wordWrap=True,
        )
        self.losses_caption.setToolTip(EXPLANATIONS.get("loss", ""))
        self.top_losses = GalleryView(self.loader, self)
        losses_page = QWidget(self)
        losses_layout = QVBoxLayout(losses_page)
        losses_layout.addWidget(self.losses_caption)
        losses_layout.addWidget(self.top_losses, 1)
        self.issues = IssuesList(self.loader, self)
        self.middle_tabs = QTabWidget(self)
        self.middle_tabs.addTab(cell_page, "Pictures")
        self.middle_tabs.addTab(losses_page, "Worst mistakes")
        self.middle_tabs.addTab(self.issues, "Likely label errors")
        self.unknown_caption = QLabel(
            "The pictures that look unlike the training pictures (unknown score above the run's "
            "threshold, which lets at least 95 in 100 pictures like the validation ones pass), most "
            "unusual first.",
            self,
            wordWrap=True,
        )
        self.unknown_gallery = GalleryView(self.loader, self)
        unknown_page = QWidget(self)
        unknown_layout = QVBoxLayout(unknown_page)
        unknown_layout.addWidget(self.unknown_caption)
        unknown_layout.addWidget(self.unknown_gallery, 1)
        self.middle_tabs.addTab(unknown_page, "Unlike training")
        self.calibration_page = CalibrationPage(self)
        self.left_tabs.addTab(self.calibration_page, "Confidence")
        self.left_tabs.setMinimumWidth(self.left_tabs.tabBar().sizeHint().width() + 8)  # titles uncut

        # ---- right: one picture ---------------------------------------------------------------------
        self.panel = ImagePanel(self)

        self.pictures_split = FoldingSplitter(800, self)  # one picture below the galleries when narrow
        self.pictures_split.addWidget(self.middle_tabs)
        self.pictures_split.addWidget(self.panel)
        self.pictures_split.setSizes([480, 330])
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.left_tabs)
        splitter.addWidget(self.pictures_split)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([400, 820])
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(summary_row)
        layout.addWidget(splitter, 1)

        # ---- wiring ---------------------------------------------------------------------------------
        self.run_combo.currentIndexChanged.connect(self._choice_changed)
        self.split_combo.activated.connect(self._split_activated)
        self.evaluate_button.clicked.connect(lambda: self.evaluate(force=True))
        self.report_button.clicked.connect(lambda: self.export_report())
        self.export_button.clicked.connect(self.export_model)
        self.confusion.cell_clicked.connect(self.show_cell)
        self.metrics.class_clicked.connect(self.show_class)
        for gallery in (self.cell_gallery, self.top_losses, self.unknown_gallery):
            gallery.picture_chosen.connect(self.show_picture)
        self.issues.picture_chosen.connect(self.show_picture)
        self.issues.relabel_requested.connect(self.relabel)
        self.issues.accept_requested.connect(self.accept)
        self.issues.exclude_requested.connect(self.exclude)
        self.panel.relabel_requested.connect(self.relabel)
        self.panel.exclude_requested.connect(self.exclude)
        self.panel.gradcam_toggled.connect(self.jobs.gradcam_toggled)
        session.project_changed.connect(self._project_changed)
        # Bound methods, not lambdas: Qt drops these connections when the section is deleted.
        session.labels_changed.connect(self._labels_changed)
        session.index_changed.connect(self._index_changed)
        session.runs_changed.connect(self._runs_changed)
        self._project_changed(session.project)

    # ---- runs and choices ----------------------------------------------------------------------------
    def section_shown(self) -> None:
        """Called by the main window each time the section is shown: new runs may have finished."""
        self.refresh_runs()
        self.check_up_to_date()

    def check_up_to_date(self) -> None:
        """Redo (or, while the run trains, mark out of date) an evaluation whose weights changed."""
        self.jobs.check_up_to_date()

    def _runs_changed(self) -> None:
        """A run trained here began or ended (calibrated and evaluated): new names, states, results.
        Hidden, the section catches up when it is shown (section_shown)."""
        if self.session.project is not None and self.isVisible():
            self.refresh_runs()
            self.check_up_to_date()

    def refresh_runs(self) -> None:
        current = self.run_combo.currentData()
        runs = trained_runs(self.session.project)
        self._filling = True
        self.run_combo.clear()
        for run in runs:
            self.run_combo.addItem(run.text, str(run.path))
        self._filling = False
        if not runs:
            self.run_combo.addItem("No trained run yet: train one in the Train section", None)
            self._set_enabled(False)
            self.show_report(None)
            if self.session.project is not None:
                self.summary.setText(
                    "No trained run yet: train one in the Train section, then come back here."
                )
            return
        self._set_enabled(True)
        i = self.run_combo.findData(current) if current else -1
        self.run_combo.setCurrentIndex(max(0, i))
        if i < 0 or (self.report is None and not self.jobs.evaluating):
            self._choice_changed()

    def _set_enabled(self, on: bool) -> None:
        for widget in (self.run_combo, self.split_combo, self.evaluate_button, self.export_button):
            widget.setEnabled(on)
        self.report_button.setEnabled(on and self.report is not None)

    def _project_changed(self, project) -> None:
        self.jobs.reset()
        self.folder = None
        # Folders added for the last project go; the choice starts on the validation pictures.
        while self.split_combo.count() > len(SPLITS) + 1:
            self.split_combo.removeItem(len(SPLITS))
        self.split_combo.setCurrentIndex(0)
        self.loader.set_cache_dir(project.cache_dir / "thumbs" if project is not None else None)
        self.report = None
        self.run_dir = None
        self.refresh_runs()

    def _choice_changed(self, *_args) -> None:
        if not self._filling:
            self.evaluate()

    def _split_activated(self, i: int) -> None:
        if self.split_combo.itemText(i) == ANOTHER_FOLDER:
            folder = QFileDialog.getExistingDirectory(
                self, "Choose a folder with one sub-folder per class", str(Path.home())
            )
            if not folder:
                self.split_combo.setCurrentIndex(0)
                self.folder = None
                self.evaluate()
                return
            self.set_folder(Path(folder))
            return
        data = self.split_combo.itemData(i)
        self.folder = Path(data) if data and data not in dict(SPLITS) else None
        self.evaluate()

    def set_folder(self, folder: Path) -> None:
        """Evaluate on another folder of class folders (added to the choices)."""
        text = f"Folder: {folder.name}"
        i = self.split_combo.findData(str(folder))
        if i < 0:
            i = self.split_combo.count() - 1
            self.split_combo.insertItem(i, text, str(folder))
        self.split_combo.setCurrentIndex(i)
        self.folder = folder
        self.evaluate()

    def set_split(self, split: str) -> None:
        i = self.split_combo.findData(split)
        if i >= 0:
            self.split_combo.setCurrentIndex(i)
            self.folder = None
            self.evaluate()

    @property
    def split(self) -> str | None:
        data = self.split_combo.currentData()
        return data if data in dict(SPLITS) else None

    # ---- evaluating ------------------------------------------------------------------------------------
    def evaluate(self, force: bool = False) -> None:
        """Evaluate the chosen run on the chosen pictures (in a worker; see EvaluationController)."""
        self.jobs.evaluate(force)

    def show_report(self, report: EvaluationReport | None, run_dir: Path | None = None) -> None:
        """Show a report (None: clear). Also used by the preview with a report made elsewhere."""
        self.report = report
        self.run_dir = run_dir
        self.jobs.forget_overlay()
        project = self.session.project
        self.review = ReviewStore(run_dir, key=project.key if project is not None else str)
        self.report_button.setEnabled(report is not None)
        self.jobs.stamp = model_stamp(run_dir) if run_dir is not None else None
        if report is None:
            self.summary_text = ""
            self.summary.setText("")
            self.confusion.set_matrix(None, None)
            self.metrics.set_report(None)
            self.cell_gallery.set_items([])
            self.cell_caption.setText("")
            self.top_losses.set_items([])
            self.issues.set_issues([], None)
            self.middle_tabs.setTabText(2, "Likely label errors")
            self.unknown_gallery.set_items([])
            self.middle_tabs.setTabText(3, "Unlike training")
            self.calibration_page.set_calibration(None)
            self.panel.show_picture(None)
            return
        issues = report.label_issues()
        mistakes = int((report.y_true != report.y_pred).sum())
        which = model_state(run_dir).words() if run_dir is not None else ""
        who = report.graded_words()  # "labelled by people"
        self.summary_text = (
            f"<span style='font-size:18px; font-weight:600'>{percent(report.accuracy)}</span> "
            f"accuracy on {report.num_samples:,} {split_words(report.split)}{' ' + who if who else ''} · "
            f"{mistakes:,} mistake{'s' if mistakes != 1 else ''} · "
            f"F1 averaged over classes {percent(report.macro['f1'])}"
            + (f" · run {run_dir.name}" if run_dir else "")
            + (f", {which}" if which else "")
        )
        self.summary.setText(self.summary_text)
        self.confusion.set_matrix(report.confusion, report.class_names)
        # Many classes: give the matrix most of the width (its cells stay readable).
        k = len(report.class_names)
        if k != self._sized_for:  # once per number of classes: the user's own sizes stay
            self._sized_for = k
            total = sum(self.splitter.sizes()) or 1280
            left = int(total * (0.33 if k <= 12 else 0.45 if k <= 25 else 0.55))
            self.splitter.setSizes([left, total - left])
        self.metrics.set_report(report)
        has_paths = report.paths is not None
        self.top_losses.set_items(
            [
                self._item(row["index"], note=f"loss {row['loss']:.2f}")
                for row in report.top_losses(TOP_LOSSES)
            ]
            if has_paths
            else []
        )
        self.issues.set_issues(
            [
                Issue(
                    row["index"],
                    row["path"],
                    row["label"],
                    row["suggested"],
                    row["self_confidence"],
                    row["suggested_confidence"],
                )
                for row in issues
                if row["path"]
            ],
            self.jobs.row_state,
        )
        self.middle_tabs.setTabText(2, f"Likely label errors ({len(issues)})")
        flagged = report.flagged_unknown()
        self.unknown_gallery.set_items(
            [self._item(row["index"], note=f"unknown score {row['unknown_score']:.3g}") for row in flagged]
            if has_paths
            else []
        )
        self.middle_tabs.setTabText(3, f"Unlike training ({len(flagged)})")
        self.calibration_page.set_calibration(report.calibration)
        # Start on the most common mistake: that is what people look for first.
        off = report.confusion.copy()
        np.fill_diagonal(off, 0)
        if off.max() > 0:
            r, c = np.unravel_index(int(off.argmax()), off.shape)
            self.confusion.select(int(r), int(c))
        else:
            self.cell_gallery.set_items([])
            self.cell_caption.setText("No mistakes on these pictures. Click a cell to see its pictures.")
            self.panel.show_picture(None)
        self.report_shown.emit(report)

    def _item(self, i: int, note: str = "") -> GalleryItem:
        report = self.report
        assert report is not None and report.paths is not None
        names = report.class_names
        predicted = int(report.y_pred[i])
        return GalleryItem(
            i,
            report.paths[i],
            names[int(report.y_true[i])],
            names[predicted],
            float(report.probs[i, predicted]),
            note,
        )

    # ---- pictures ------------------------------------------------------------------------------------
    def cell_indices(self, row: int, col: int) -> list[int]:
        """The report rows of a confusion cell, most confident first."""
        report = self.report
        if report is None:
            return []
        chosen = np.flatnonzero((report.y_true == row) & (report.y_pred == col))
        confidence = report.probs[chosen, col]
        return [int(i) for i in chosen[np.argsort(-confidence, kind="stable")]]

    def show_cell(self, row: int, col: int) -> None:
        report = self.report
        if report is None:
            return
        indices = self.cell_indices(row, col)
        names = report.class_names
        n = len(indices)
        pictures = f"{n} picture{'s' if n != 1 else ''}"
        if row == col:
            text = f"{pictures} of {names[row]} recognised correctly, most confident first."
        else:
            text = f"{pictures} of {names[row]} taken for {names[col]}, most confident first."
        if report.paths is None:
            text += " (The pictures' files are not known for this evaluation.)"
            indices = []
        self.cell_caption.setText(text)
        self.cell_gallery.set_items([self._item(i) for i in indices])
        self.middle_tabs.setCurrentIndex(0)
        if not indices:
            self.panel.show_picture(None)

    def show_class(self, row: int) -> None:
        """Every picture of one true class, the least sure first (where its problems are)."""
        report = self.report
        if report is None or report.paths is None:
            return
        chosen = np.flatnonzero(report.y_true == row)
        sure = report.probs[chosen, row]
        indices = [int(i) for i in chosen[np.argsort(sure, kind="stable")]]
        self.cell_caption.setText(
            f"All {len(indices)} pictures of {report.class_names[row]}, those the model is least sure of first."
        )
        self.cell_gallery.set_items([self._item(i) for i in indices])
        self.middle_tabs.setCurrentIndex(0)

    def picture(self, i: int) -> Picture:
        report = self.report
        assert report is not None and report.paths is not None
        names = report.class_names
        return Picture(
            i,
            report.paths[i],
            names[int(report.y_true[i])],
            names[int(report.y_pred[i])],
            tuple(float(p) for p in report.probs[i]),
            tuple(names),
            float(report.losses[i]),
        )

    def show_picture(self, i: int) -> None:
        if self.report is None or self.report.paths is None:
            return
        self.jobs.forget_overlay()
        picture = self.picture(i)
        state = self.jobs.row_state(picture.path)
        self.panel.show_picture(picture, state.label, editable=state.editable and not state.excluded)

    # ---- fixes (see EvaluationController) ------------------------------------------------------------
    def _labels_changed(self, _paths: list) -> None:
        self.refresh_states()

    def _index_changed(self, _index) -> None:
        self.refresh_states()

    def refresh_states(self) -> None:
        """Redraw what may be done to the pictures shown (labels, exclusions, accepted)."""
        self.issues.refresh()
        picture = self.panel.picture
        if picture is not None and self.report is not None:
            state = self.jobs.row_state(picture.path)
            # Redraw the verdict and the menu only; keep the overlay.
            overlay, status = self.panel.overlay, self.panel.gradcam_status.text()
            blocked = self.panel.blockSignals(True)  # no new Grad-CAM: the picture is the same
            self.panel.show_picture(picture, state.label, editable=state.editable and not state.excluded)
            self.panel.blockSignals(blocked)
            if overlay is not None:
                self.panel.set_overlay(overlay, status)

    def relabel(self, path: str, label: str) -> None:
        """Give one picture a new label in the project (undoable)."""
        self.jobs.relabel(path, label)

    def exclude(self, path: str) -> None:
        """Leave one picture out of the project (undoable; the file stays)."""
        self.jobs.exclude(path)

    def accept(self, path: str) -> None:
        """The label is right: take the picture off the likely label errors of this run (undoable)."""
        self.jobs.accept(path)

    # ---- exports ---------------------------------------------------------------------------------------
    def export_report(self, path: str | Path | None = None) -> tuple[Path, Path] | None:
        """Write the HTML report and the predictions CSV; asks where when `path` is None."""
        from cnnstudio.gui.evaluate.curves import render_curves
        from cnnstudio.gui.evaluate.report_file import write_report

        report, project = self.report, self.session.project
        if report is None:
            return None
        if path is None:
            run = self.run_dir.name if self.run_dir else "evaluation"
            name = f"{file_name_part(project.name) if project else 'model'}-{run}-evaluation.html"
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Save the evaluation report", str(Path.home() / name), "Web page (*.html)"
            )
            if not chosen:
                return None
            path = chosen
        curves = None
        if self.run_dir is not None:
            from cnnstudio.core.runs import read_metrics

            image = render_curves(read_metrics(self.run_dir))
            curves = png_bytes(image) if image is not None else None
        try:
            written = write_report(
                path,
                report,
                project_name=project.name if project else "CNN Studio",
                confusion_png=png_bytes(self.confusion.render_image()),
                curves_png=curves,
            )
        except OSError as exc:
            self.session.error.emit(f"The report could not be saved: {exc.strerror or exc}.")
            return None
        self.session.message.emit(f"Saved the report {written[0]} and every prediction in {written[1].name}.")
        return written

    def export_model(self) -> None:
        from cnnstudio.gui.export_dialog import ExportDialog

        if self.session.project is None:
            return
        dialog = ExportDialog(self.session, run_dir=self.run_dir, parent=self)
        dialog.open()
