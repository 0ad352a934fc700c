"""The Predict section: drop pictures or folders, see what the model says, export or sort them.

The model is a run of the project or a .cnnmodel file. The view holds the widgets and draws; its job
control (predicting, sorting into class folders, undoing a move) is `view.jobs`, a `PredictController`
(controller.py). Prediction runs in the session's workers (core.export.Predictor: the same decoding
and the same probabilities the app and every export use), with progress in the status bar. The "unknown" threshold relabels the table at once; the CSV and the
class folders follow it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.runs import trained_runs
from cnnstudio.gui.predict.controller import PredictController
from cnnstudio.gui.predict.default_run import BestRun, best_run
from cnnstudio.gui.predict.results_model import THUMB, UNKNOWN, PredictionsModel
from cnnstudio.gui.style import icon, muted_color
from cnnstudio.gui.thumbnails import ThumbnailLoader

if TYPE_CHECKING:
    from cnnstudio.core.export import LoadedModel, PredictionResult
    from cnnstudio.gui.session import ProjectSession

MODEL_FILTER = "CNN Studio model (*.cnnmodel)"


def dropped_paths(event) -> list[str]:
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]


class DropZone(QFrame):
    """A dashed box that says where to drop; the whole section accepts drops."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("dropZone")
        self.setStyleSheet(f"#dropZone {{ border: 2px dashed {muted_color().name()}; border-radius: 8px; }}")
        self.label = QLabel(
            "<b>Drop pictures or folders here</b> to see what the model says about them", self
        )
        self.add_files = QPushButton(icon("image"), "Add pictures…", self)
        self.add_folder = QPushButton(icon("folder"), "Add a folder…", self)
        self.clear = QPushButton(icon("close"), "Clear", self)
        row = QHBoxLayout(self)
        row.setContentsMargins(14, 10, 14, 10)
        row.addWidget(self.label, 1)
        for button in (self.add_files, self.add_folder, self.clear):
            row.addWidget(button)


class PredictPanel(QWidget):
    predicted = Signal(object)  # core.export.PredictionResult of the last prediction
    sorted_into = Signal(object)  # [(from, to)]
    sort_undone = Signal(object)  # [(from, to)]: pictures put back by "Undo move"

    def __init__(self, session: ProjectSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.inputs: list[str] = []
        self.jobs = PredictController(self)  # predicting, sorting into folders, undoing a move
        self._filling = False
        self._best: BestRun | None = None  # the run Predict chose as the best (see default_run.py)
        self.setAcceptDrops(True)
        self.loader = ThumbnailLoader(parent=self)

        self.model_combo = QComboBox(self)
        self.model_combo.setMinimumContentsLength(30)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setToolTip(
            "The model that predicts: a trained run of this project, or a model file."
        )
        self.open_model = QPushButton(icon("folder-open"), "Open a model file…", self)
        self.model_info = QLabel(self)
        self.model_info.setStyleSheet(f"color: {muted_color().name()}")
        top = QHBoxLayout()
        top.addWidget(QLabel("Model:", self))
        top.addWidget(self.model_combo, 1)
        for widget in (self.open_model, self.model_info):
            top.addWidget(widget)

        self.drop_zone = DropZone(self)
        self.threshold = QSlider(Qt.Orientation.Horizontal, self)
        self.threshold.setRange(0, 99)
        self.threshold.setValue(0)
        self.threshold.setMaximumWidth(260)
        self.threshold.setToolTip(
            'A picture the model is less sure about than this is called "unknown": useful when new '
            "pictures may show none of the classes."
        )
        self.threshold_label = QLabel(self)
        self.unknown_box = QDoubleSpinBox(self)
        self.unknown_box.setDecimals(3)
        self.unknown_box.setRange(0.0, 1e9)
        self.unknown_box.setMaximumWidth(140)
        self.unknown_box.setToolTip(
            "How unlike the training pictures a picture may look before it is marked as unlike "
            "them and sorted into the unknown folder. It starts at the value chosen when the model "
            "was trained, which lets at least 95 in 100 pictures like the validation ones pass; lower "
            "flags more pictures."
        )
        self.unknown_reset = QPushButton("Default", self)
        self.unknown_info = QLabel(self)
        self.unknown_info.setStyleSheet(f"color: {muted_color().name()}")
        unknown_row = QHBoxLayout()
        self.unknown_caption = QLabel(
            "Mark pictures unlike the training pictures when their unknown score is above", self
        )
        for widget in (self.unknown_caption, self.unknown_box, self.unknown_reset, self.unknown_info):
            unknown_row.addWidget(widget)
        unknown_row.addStretch(1)
        self._default_unknown: float | None = None
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(QLabel('Call a picture "unknown" when the model is less sure than', self))
        for widget in (self.threshold, self.threshold_label):
            threshold_row.addWidget(widget)
        threshold_row.addStretch(1)

        self.progress = QProgressBar(self)
        self.progress.hide()
        self.results = PredictionsModel(self.loader, self)
        self.table = QTableView(self)
        self.table.setModel(self.results)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 6)
        self.table.setIconSize(QSize(THUMB, THUMB))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(0, THUMB + 12)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        for column, width in ((1, 280), (2, 140), (3, 100), (4, 260)):
            header.resizeSection(column, width)
        header.setStretchLastSection(True)

        self.summary = QLabel(self, wordWrap=True)
        self.csv_button = QPushButton(icon("save"), "Export CSV…", self)
        self.copy_button = QPushButton(icon("folder"), "Copy into class folders…", self)
        self.copy_button.setToolTip(
            "Copy each picture into a folder named after its class (nothing is overwritten)."
        )
        self.move_button = QPushButton("Move into class folders…", self)
        self.move_button.setToolTip("Move each picture into a folder named after its class (asks first).")
        self.undo_sort_button = QPushButton("Undo move", self)
        self.undo_sort_button.setToolTip("Put the pictures of the last move back where they were.")
        self.undo_sort_button.hide()
        self.last_sort_journal: Path | None = None  # the journal of the last move, while it can be undone
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary, 1)
        for button in (self.csv_button, self.copy_button, self.move_button, self.undo_sort_button):
            bottom.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.drop_zone)
        layout.addLayout(threshold_row)
        layout.addLayout(unknown_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)

        self.model_combo.currentIndexChanged.connect(self._model_changed)
        self.open_model.clicked.connect(lambda: self.open_model_file())
        self.drop_zone.add_files.clicked.connect(self._add_files)
        self.drop_zone.add_folder.clicked.connect(self._add_folder)
        self.drop_zone.clear.clicked.connect(self.clear)
        self.threshold.valueChanged.connect(self._threshold_changed)
        self.unknown_box.valueChanged.connect(self._unknown_changed)
        self.unknown_reset.clicked.connect(self._unknown_to_default)
        self._show_unknown(None, calibrated=True)
        self.csv_button.clicked.connect(lambda: self.export_csv())
        self.copy_button.clicked.connect(lambda: self.sort_into(move=False))
        self.move_button.clicked.connect(lambda: self.sort_into(move=True))
        self.undo_sort_button.clicked.connect(lambda: self.undo_sort())
        session.project_changed.connect(self._project_changed)
        self._threshold_changed(self.threshold.value())
        self._project_changed(session.project)

    # ---- models --------------------------------------------------------------------------------------
    def section_shown(self) -> None:
        self.refresh_models()

    def refresh_models(self) -> None:
        current = self.model_combo.currentData()
        files = [
            self.model_combo.itemData(i)
            for i in range(self.model_combo.count())
            if str(self.model_combo.itemData(i) or "").endswith(".cnnmodel")
        ]
        self._filling = True
        self.model_combo.clear()
        runs = trained_runs(self.session.project)
        for run in runs:
            self.model_combo.addItem(icon("train"), f"Run {run.text}", str(run.path))
        for path in files:
            self.model_combo.addItem(icon("model"), Path(path).name, path)
        self._filling = False
        if not self.model_combo.count():
            self.model_combo.addItem("No model yet: train a run, or open a model file", None)
        i = self.model_combo.findData(current) if current else -1
        if i < 0:  # a first choice: the best run, not the newest
            self._best = best_run([run.path for run in runs], self.session.training_runs)
        self.model_combo.setCurrentIndex(
            max(0, self.model_combo.findData(str(self._best.path)) if i < 0 and self._best else i)
        )
        if i < 0:
            self._model_changed()

    def open_model_file(self, path: str | Path | None = None) -> None:
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(self, "Open a model file", str(Path.home()), MODEL_FILTER)
            if not chosen:
                return
            path = chosen
        path = str(Path(path).expanduser().resolve())
        i = self.model_combo.findData(path)
        if i < 0:
            if self.model_combo.count() == 1 and self.model_combo.itemData(0) is None:
                self.model_combo.clear()
            self.model_combo.addItem(icon("model"), Path(path).name, path)
            i = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(i)

    @property
    def model_source(self) -> str | None:
        return self.model_combo.currentData()

    def _model_changed(self, *_args) -> None:
        if self._filling:
            return
        source = self.model_source
        self.model_info.setText(self._best_words())
        self._show_unknown(None, calibrated=True)  # the last model's (or project's) value goes
        for button in (self.drop_zone.add_files, self.drop_zone.add_folder):
            button.setEnabled(source is not None)
        if source is not None and self.inputs:
            self.jobs.predict(list(self.inputs), replace=True)
        self.update_buttons()

    def _best_words(self) -> str:
        """'Best run: NAME (validation 93%)' while the run chosen for the user is shown."""
        best = self._best if self._best is not None and self.model_source == str(self._best.path) else None
        self.model_info.setToolTip(best.tooltip() if best is not None else "")
        return best.words() if best is not None else ""

    def _project_changed(self, project) -> None:
        # Another project: nothing of the last one stays (its predictions, its models, model files).
        self.clear()
        self.loader.set_cache_dir(project.cache_dir / "thumbs" if project is not None else None)
        self.jobs.forget_models()
        self._filling = True
        self.model_combo.clear()
        self._filling = False
        self.refresh_models()

    # ---- inputs and predicting -----------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_paths(event):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if dropped_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_paths(event)
        if paths:
            event.acceptProposedAction()
            self.add_inputs(paths)

    def _add_files(self) -> None:
        chosen, _ = QFileDialog.getOpenFileNames(
            self,
            "Choose pictures",
            str(Path.home()),
            "Pictures (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)",
        )
        if chosen:
            self.add_inputs(chosen)

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of pictures", str(Path.home()))
        if folder:
            self.add_inputs([folder])

    def add_inputs(self, paths: list[str | Path]) -> None:
        """Pictures or folders (searched with their sub-folders): predicted in the background."""
        new = [str(p) for p in paths if str(p) not in self.inputs]
        if not new:
            return
        self.inputs += new
        if self.model_source is None:
            self.summary.setText("Choose a model first: train a run, or open a model file.")
            return
        self.jobs.predict(new)

    def clear(self) -> None:
        self.jobs.cancel()
        self.inputs = []
        self.results.clear()
        self.update_summary()
        self.update_buttons()

    def show_prediction(self, result: PredictionResult, loaded: LoadedModel | None) -> None:
        """A prediction is done (`loaded`: the model that made it): the table and the summary show it."""
        if loaded is not None:
            self.model_info.setText(
                " · ".join(filter(None, [self._best_words(), f"{len(loaded.class_names)} classes"]))
            )
        if result.unknown_threshold != self._default_unknown or self.results.unknown_threshold is None:
            self._show_unknown(result.unknown_threshold, calibrated=result.calibrated)
        self.results.add(result.predictions, result.problems)
        self.update_summary()
        self.predicted.emit(result)

    # ---- unknown pictures ------------------------------------------------------------------------------
    def _show_unknown(self, threshold: float | None, *, calibrated: bool) -> None:
        """A new model's unknown threshold: the control starts at it (or says why there is none)."""
        self._default_unknown = threshold
        has = threshold is not None
        for widget in (self.unknown_box, self.unknown_reset, self.unknown_caption):
            widget.setEnabled(has)
        self.unknown_box.blockSignals(True)
        self.unknown_box.setValue(threshold if has else 0.0)
        if not has:
            self.unknown_box.clear()  # empty, not another model's number
        self.unknown_box.blockSignals(False)
        if has:
            self.unknown_info.setText("")
        elif not calibrated:
            self.unknown_info.setText(
                "This model was not calibrated (trained before calibration existed, or an ensemble): "
                "it cannot mark pictures unlike its training pictures."
            )
        self.results.set_unknown_threshold(threshold)

    def set_unknown_threshold(self, value: float) -> None:
        self.unknown_box.setValue(value)

    def _unknown_changed(self, value: float) -> None:
        if self._default_unknown is not None:
            self.results.set_unknown_threshold(value)
            self.update_summary()

    def _unknown_to_default(self) -> None:
        if self._default_unknown is not None:
            self.unknown_box.setValue(self._default_unknown)

    # ---- threshold, summary --------------------------------------------------------------------------
    def set_threshold(self, threshold: float) -> None:
        self.threshold.setValue(round(threshold * 100))

    def _threshold_changed(self, value: int) -> None:
        self.threshold_label.setText(f"{value}%" if value else "off (never unknown)")
        self.results.set_threshold(value / 100)
        self.update_summary()

    def update_summary(self) -> None:
        counts = self.results.counts()
        n = len(self.results.predictions)
        if not n and not self.results.problems:
            self.summary.setText("")
            return
        parts = [f"{label}: {count:,}" for label, count in sorted(counts.items()) if label != UNKNOWN]
        if UNKNOWN in counts:
            parts.append(f"unknown: {counts[UNKNOWN]:,}")
        text = f"{n:,} picture{'s' if n != 1 else ''}: " + " · ".join(parts)
        unlike = self.results.unknown_count()
        if unlike:
            text += f" · {unlike:,} look unlike the training pictures"
        if self.results.problems:
            text += f" · {len(self.results.problems)} could not be read"
        self.summary.setText(text)

    def follow(self, pairs: list[tuple[str, str]]) -> None:
        """Pictures moved from the first to the second path of each pair: the table follows them."""
        self.results.moved(pairs)
        where = dict(pairs)
        self.inputs = [where.get(p, p) for p in self.inputs]

    def undo_sort(self) -> None:
        """Put the pictures of the last move back where they were (from its journal), in the background."""
        self.jobs.undo_sort()

    def update_buttons(self) -> None:
        has = bool(self.results.predictions)
        self.csv_button.setEnabled(has or bool(self.results.problems))
        for button in (self.copy_button, self.move_button):
            button.setEnabled(has and not self.jobs.busy())

    # ---- exports ---------------------------------------------------------------------------------------
    def result(self) -> PredictionResult:
        """The table as a PredictionResult, with the threshold applied."""
        from cnnstudio.core.export import PredictionResult

        return PredictionResult(
            predictions=self.results.labelled(),
            problems=list(self.results.problems),
            threshold=self.results.threshold,
            unknown_threshold=self.results.unknown_threshold,
            calibrated=self._default_unknown is not None,
        )

    def export_csv(self, path: str | Path | None = None) -> Path | None:
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Save the predictions", str(Path.home() / "predictions.csv"), "CSV (*.csv)"
            )
            if not chosen:
                return None
            path = chosen
        try:
            written = self.result().write_csv(path)
        except OSError as exc:
            self.session.error.emit(f"The CSV could not be saved: {exc.strerror or exc}.")
            return None
        self.session.message.emit(f"Saved {len(self.results.predictions):,} predictions in {written}.")
        return written

    def sort_into(self, move: bool = False, dest: str | Path | None = None, confirm: bool = True) -> None:
        """Copy (or move, after asking) every picture into dest/<class>/, in the background."""
        predictions = self.results.labelled()
        if not predictions:
            return
        if dest is None:
            verb = "move" if move else "copy"
            dest = QFileDialog.getExistingDirectory(
                self, f"Choose where to {verb} the pictures (one folder per class)", str(Path.home())
            )
            if not dest:
                return
        dest = Path(dest)
        if move and confirm:
            answer = QMessageBox.question(
                self,
                "Move pictures",
                f"Move {len(predictions):,} pictures into one folder per class in {dest}?\n\n"
                "They will no longer be where they are now. Nothing is overwritten.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return

        for button in (self.copy_button, self.move_button):
            button.setEnabled(False)
        self.jobs.sort_into(predictions, dest, move=move)
