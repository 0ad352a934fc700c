"""The Evaluate section's jobs, apart from its widgets: evaluating a run, noticing that training
has since saved a better model, Grad-CAM, and the fixes (relabel, accept, exclude).

    jobs = EvaluationController(view)   # the view creates it; view.jobs
    jobs.evaluate(force=False)          # the run and pictures chosen in the view, in a worker
    jobs.check_up_to_date()             # redo (or mark out of date) when the run's weights changed
    jobs.row_state(path)                # what may be done to one picture (label, excluded, accepted)
    jobs.relabel(path, label); jobs.accept(path); jobs.exclude(path)   # on the session's undo stack

A generation number drops the answer of an evaluation (or a Grad-CAM) that a newer one replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from PySide6.QtCore import QObject, QTimer

from cnnstudio.core.errors import UserError
from cnnstudio.core.runs import describe_run, model_state
from cnnstudio.gui.evaluate.image_panel import rgb_to_qimage
from cnnstudio.gui.evaluate.issues_list import RowState
from cnnstudio.gui.evaluate.jobs import ModelCache, grad_cam_overlay, load_or_evaluate, model_stamp
from cnnstudio.gui.evaluate.report_file import split_words
from cnnstudio.gui.evaluate.review import AcceptCommand
from cnnstudio.gui.style import muted_color
from cnnstudio.gui.style.theme import error_color

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QComboBox, QLabel, QPushButton

    from cnnstudio.core.evaluate import EvaluationReport
    from cnnstudio.gui.evaluate.image_panel import ImagePanel
    from cnnstudio.gui.evaluate.review import ReviewStore
    from cnnstudio.gui.session import ProjectSession

WATCH_MS = 1500  # how often the shown evaluation is checked against the run's best model


@runtime_checkable
class EvaluationView(Protocol):
    """What the controller uses of its widget (EvaluationPanel, a QWidget: also the controller's
    parent). Named here so the controller need not import the view, which imports the controller;
    tests/gui/test_view_protocols.py checks the real view has all of it."""

    session: ProjectSession
    run_combo: QComboBox
    evaluate_button: QPushButton
    summary: QLabel
    summary_text: str
    panel: ImagePanel
    review: ReviewStore
    folder: Path | None
    report: EvaluationReport | None
    run_dir: Path | None
    overlay_shown: SignalInstance  # QImage

    @property
    def split(self) -> str | None: ...
    def show_report(self, report: EvaluationReport | None, run_dir: Path | None = None) -> None: ...
    def refresh_states(self) -> None: ...
    def isVisible(self) -> bool: ...  # QWidget's own


class EvaluationController(QObject):
    def __init__(self, view: EvaluationView):
        super().__init__(view)
        self.view = view
        self.session = view.session
        self.models = ModelCache()
        self.generation = 0
        self.cam_generation = 0
        self.evaluating = False
        self.stamp: tuple | None = None  # the weights and calibration the shown evaluation belongs to
        # Training may write a new best model at any time: the shown evaluation is checked against it.
        self.watch = QTimer(self, interval=WATCH_MS)
        self.watch.timeout.connect(self.check_up_to_date)
        self.watch.start()

    def reset(self) -> None:
        """Another project: forget its models and drop the answers of jobs under way."""
        self.generation += 1
        self.evaluating = False
        self.models.clear()

    # ---- evaluating ------------------------------------------------------------------------------------
    def evaluate(self, force: bool = False) -> None:
        view = self.view
        project = self.session.project
        data = view.run_combo.currentData()
        if project is None or not data:
            return
        run_dir = Path(data)
        self.refresh_run_text()
        split, folder = view.split, view.folder
        self.generation += 1
        generation = self.generation
        where = f"the pictures in {folder.name}" if folder else f"the {split_words(split)}"
        view.summary.setText(f"Evaluating run {run_dir.name} on {where}…")
        view.evaluate_button.setEnabled(False)
        self.evaluating = True
        stamp = model_stamp(run_dir)

        def done(report: EvaluationReport) -> None:
            if generation == self.generation:
                self.evaluating = False
                view.evaluate_button.setEnabled(True)
                view.show_report(report, run_dir)
                self.stamp = stamp
                self.show_model_state()

        def failed(text: str) -> None:
            if generation == self.generation:
                self.evaluating = False
                view.evaluate_button.setEnabled(True)
                view.show_report(None)
                view.summary.setText(f"<span style='color:{error_color().name()}'>{text}</span>")

        def job(ctx):
            def progress(count: int, total: int) -> None:
                # Reading the pictures counts every picture of the project (all splits); the
                # evaluation that follows has no count: say what it does, not "1,797 / 1,797".
                if count == 0 or total <= 0:
                    ctx.set_text("Reading the project's pictures")
                ctx.progress(count, total)
                if total > 0 and count >= total:
                    ctx.set_text(f"Evaluating run {run_dir.name} on {where}")
                    ctx.progress(0, 0)

            return load_or_evaluate(project, run_dir, split, folder, force=force, progress=progress)

        self.session.tasks.start(
            f"Evaluating run {run_dir.name}",
            job,
            on_success=done,
            on_error=failed,
        )

    # ---- staleness -------------------------------------------------------------------------------------
    def finishing(self, run_dir: Path) -> bool:
        """The run's epochs are over but its training job still fits the calibration and evaluates."""
        return run_dir in self.session.training_runs and not model_state(run_dir).training

    def check_up_to_date(self) -> None:
        """Redo (or, while the run trains, mark out of date) an evaluation whose weights or calibration
        changed. While a run's training job ends (calibrating), its result waits for that."""
        view = self.view
        if view.isVisible():
            self.refresh_run_text()
        if self.evaluating or view.report is None or view.run_dir is None or view.folder is not None:
            if view.report is not None and view.run_dir is not None and not self.evaluating:
                self.show_model_state()
            return
        if not view.isVisible():
            return
        stamp = model_stamp(view.run_dir)
        if stamp == self.stamp:
            self.show_model_state()
            return
        if model_state(view.run_dir).training or view.run_dir in self.session.training_runs:
            self.show_model_state(stale=True)
        else:
            self.evaluate()

    def refresh_run_text(self) -> None:
        """The chosen run's line in the picker (its epochs and state) as its folder says now:
        "1/3 epochs · running" goes when the run ends."""
        combo = self.view.run_combo
        i = combo.currentIndex()
        data = combo.itemData(i) if i >= 0 else None
        if data:
            text = describe_run(Path(data)).text
            if text != combo.itemText(i):
                combo.setItemText(i, text)

    def show_model_state(self, stale: bool = False) -> None:
        """The summary, with which model it belongs to and whether training still goes on."""
        view = self.view
        if view.run_dir is None or view.report is None:
            return
        state = model_state(view.run_dir)
        if self.finishing(view.run_dir):
            note = (
                f"<br><span style='color:{error_color().name()}'><b>Not final yet:</b> training has "
                "ended and the model is being calibrated and checked on the validation and test "
                "pictures. The final result replaces this one in a moment.</span>"
            )
        elif stale or (self.stamp is not None and model_stamp(view.run_dir) != self.stamp):
            note = (
                "<br><span style='color:{c}'><b>Out of date:</b> training has since saved a better model "
                "({w}). This result is of an older one; it is evaluated again when training ends, "
                "or click Evaluate again.</span>"
            ).format(c=error_color().name(), w=state.words() or "a later epoch")
        elif state.training:
            note = (
                f"<br><span style='color:{muted_color().name()}'>Training is still under way: this is "
                "the best model so far; a better one later replaces it and is evaluated again.</span>"
            )
        else:
            note = ""
        view.summary.setText(view.summary_text + note)

    # ---- Grad-CAM --------------------------------------------------------------------------------------
    def forget_overlay(self) -> None:
        """Another picture or report: a Grad-CAM under way no longer belongs to what is shown."""
        self.cam_generation += 1

    def gradcam_toggled(self, on: bool) -> None:
        view = self.view
        panel = view.panel
        picture = panel.picture
        if not on or picture is None or panel.overlay is not None or view.run_dir is None:
            if on and view.run_dir is None and picture is not None:
                panel.set_overlay(None, "Grad-CAM needs the run's model, which is not available here.")
            return
        self.cam_generation += 1
        generation = self.cam_generation
        run_dir, path = view.run_dir, picture.path
        class_index = picture.class_names.index(picture.predicted)
        panel.set_gradcam_busy()

        def done(overlay: np.ndarray) -> None:
            if generation == self.cam_generation:
                image = rgb_to_qimage(overlay)
                panel.set_overlay(
                    image, f"Where the model saw {picture.predicted}: red most, blue least (the scale below)."
                )
                view.overlay_shown.emit(image)

        def failed(text: str) -> None:
            if generation == self.cam_generation:
                panel.set_overlay(None, text)

        self.session.tasks.start(
            "Working out where the model looked",
            lambda ctx: grad_cam_overlay(self.models, run_dir, path, class_index),
            on_success=done,
            on_error=failed,
            quiet=True,
        )

    # ---- fixes -----------------------------------------------------------------------------------------
    def row_state(self, path: str) -> RowState:
        project, labels = self.session.project, self.session.labels
        accepted = self.view.review.is_accepted(path)
        if self.view.folder is not None or project is None:
            return RowState(
                None, False, accepted, False, "Not part of this project: it cannot be changed here."
            )
        if labels is None:
            return RowState(None, False, accepted, False, "The project's pictures are still being listed.")
        excluded = project.key(path) in project.excluded
        sample = labels.sample(path)
        if sample is None and not excluded:
            return RowState(None, False, accepted, False, "This picture is no longer in the project.")
        return RowState(sample.label if sample else None, excluded, accepted, True)

    def relabel(self, path: str, label: str) -> None:
        """Give one picture a new label in the project (undoable)."""
        labels = self.session.labels
        if labels is None:
            self.session.message.emit("The project's pictures are still being listed; try again in a moment.")
            return
        try:
            edit = labels.assign([path], label)
        except UserError as exc:
            self.session.error.emit(str(exc))
            return
        self.session.apply_edit(edit)

    def exclude(self, path: str) -> None:
        """Leave one picture out of the project (undoable; the file stays)."""
        from cnnstudio.gui.commands import ExcludeCommand

        if self.session.project is None or self.session.index is None:
            return
        name = path.rsplit("/", 1)[-1]
        self.session.push(ExcludeCommand(self.session, [path], f"Exclude {name}"))

    def accept(self, path: str) -> None:
        """The label is right: take the picture off the likely label errors of this run (undoable)."""
        self.session.push(AcceptCommand(self.view.review, [path], self.view.refresh_states))
