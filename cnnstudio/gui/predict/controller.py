"""The Predict section's job control: predicting, sorting into class folders and undoing a move in
the background, apart from the widgets.

    jobs = PredictController(view)         # the view creates it; view.jobs
    jobs.predict(inputs, replace=False)    # queued behind a running prediction; replace: another model
    jobs.cancel()                          # the running prediction stops, nothing stays queued
    jobs.busy()                            # a prediction runs
    jobs.sort_into(predictions, dest, move=False)  # into dest/<class>/; a move keeps an undo journal
    jobs.undo_sort()                       # the last move's pictures go back (from its journal)
    jobs.forget_models()                   # another project: no loaded model stays

It owns the loaded models (kept, so the next prediction starts at once), the running prediction and
the inputs added while it runs. Everything runs in the session's workers (core.export.Predictor,
core.export.sorting); the controller draws through the view.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from PySide6.QtCore import QObject

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton

    from cnnstudio.core.export import LoadedModel, Prediction, PredictionResult
    from cnnstudio.gui.predict.results_model import PredictionsModel
    from cnnstudio.gui.session import ProjectSession


@runtime_checkable
class PredictView(Protocol):
    """What the controller uses of its widget (PredictPanel, a QWidget: also the controller's
    parent). Named here so the controller need not import the view, which imports the controller;
    tests/gui/test_view_protocols.py checks the real view has all of it."""

    session: ProjectSession
    inputs: list[str]
    results: PredictionsModel
    summary: QLabel
    progress: QProgressBar
    undo_sort_button: QPushButton
    last_sort_journal: Path | None
    sorted_into: SignalInstance
    sort_undone: SignalInstance

    @property
    def model_source(self) -> str | None: ...
    def show_prediction(self, result: PredictionResult, loaded: LoadedModel | None) -> None: ...
    def update_summary(self) -> None: ...
    def update_buttons(self) -> None: ...
    def follow(self, pairs: list[tuple[str, str]]) -> None: ...


class PredictController(QObject):
    def __init__(self, view: PredictView):
        super().__init__(view)  # type: ignore[arg-type]  # the view is a QWidget
        self.view = view
        self.session = view.session
        self.models: dict[str, LoadedModel] = {}
        self.task = None
        self.queued: list[str] = []

    # ---- predicting ----------------------------------------------------------------------------------
    def busy(self) -> bool:
        return self.task is not None

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.queued = []

    def forget_models(self) -> None:
        self.models.clear()

    def load(self, source: str) -> LoadedModel:
        """In a worker: the model (kept, so the next prediction starts at once)."""
        loaded = self.models.get(source)
        if loaded is None:
            from cnnstudio.core.models import load_model

            loaded = load_model(source)
            self.models[source] = loaded
        return loaded

    def predict(self, inputs: list[str], replace: bool = False) -> None:
        if self.task is not None:
            if replace:  # another model: what runs now is no longer wanted
                self.task.cancel()
                self.queued = list(self.view.inputs)
            else:
                self.queued += inputs
            return
        source = self.view.model_source
        if source is None:
            return
        if replace:
            self.view.results.clear()

        def job(ctx) -> PredictionResult:
            from cnnstudio.core.export import Predictor

            loaded = self.load(source)
            ctx.set_text(f"Predicting with {Path(source).name}")
            return Predictor(loaded).predict(inputs, progress=ctx.progress, should_stop=ctx.should_stop)

        self.view.progress.setRange(0, 0)
        self.view.progress.show()
        self.view.summary.setText("Predicting…")
        n = len(inputs)
        title = f"Predicting {Path(inputs[0]).name}" if n == 1 else f"Predicting {n} pictures and folders"
        task = self.session.tasks.start(title, job, on_success=self._done, on_error=self._failed)
        task.progressed.connect(self._progressed)
        task.done.connect(self._task_ended)
        task.cancelled.connect(self.view.update_summary)
        self.task = task

    def _progressed(self, done: int, total: int) -> None:
        self.view.progress.setRange(0, max(1, total))
        self.view.progress.setValue(done)

    def _done(self, result: PredictionResult) -> None:
        source = self.view.model_source
        self.view.show_prediction(result, self.models.get(source) if source else None)

    def _failed(self, text: str) -> None:
        self.view.summary.setText(text)
        self.session.error.emit(text)

    def _task_ended(self) -> None:
        self.task = None
        self.view.progress.hide()
        self.view.update_buttons()
        if self.queued:
            queued, self.queued = self.queued, []
            self.predict(queued)

    # ---- class folders -------------------------------------------------------------------------------
    def sort_into(self, predictions: list[Prediction], dest: Path, move: bool = False) -> None:
        """Copy (or move) every picture into dest/<class>/; the view has asked already."""
        journal = None
        if move:  # the same undo journal as "Write labels to folders" (core/labels/journal.py)
            from cnnstudio.core.export.sorting import new_sort_journal
            from cnnstudio.core.paths import user_data_dir

            journal = new_sort_journal(user_data_dir() / "journal")

        def job(_ctx):
            from cnnstudio.core.export.sorting import SortError, sort_into

            try:
                return sort_into(predictions, dest, move=move, journal=journal), None
            except SortError as exc:  # part done: the view follows what moved, then says why
                return exc.done, str(exc)

        def done(outcome) -> None:
            pairs, error = outcome
            if move:
                self.view.follow(pairs)
                if journal is not None and journal.exists():
                    self.view.last_sort_journal = journal
                    self.view.undo_sort_button.show()
                    self.view.undo_sort_button.setEnabled(True)
            verb = "Moved" if move else "Copied"
            self.view.summary.setText(f"{verb} {len(pairs):,} pictures into class folders in {dest}.")
            self.session.message.emit(self.view.summary.text())
            if error is not None:
                self.view.summary.setText(error)
                self.session.error.emit(error)
            self.view.sorted_into.emit(pairs)

        task = self.session.tasks.start(
            ("Moving" if move else "Copying") + " pictures into class folders",
            job,
            on_success=done,
            on_error=self.session.error.emit,
            cancellable=False,
        )
        task.done.connect(self.view.update_buttons)

    def undo_sort(self) -> None:
        """Put the pictures of the last move back where they were (from its journal), in the background."""
        journal = self.view.last_sort_journal
        if journal is None:
            return

        def job(ctx):
            from cnnstudio.core.export.sorting import undo_sort

            return undo_sort(journal, progress=ctx.progress)

        def done(pairs: list[tuple[str, str]]) -> None:
            self.view.follow(pairs)
            self.view.last_sort_journal = None
            self.view.undo_sort_button.hide()
            text = f"Undone: {len(pairs):,} pictures are back where they were."
            self.session.message.emit(text)
            self.view.summary.setText(text)
            self.view.sort_undone.emit(pairs)

        self.view.undo_sort_button.setEnabled(False)
        task = self.session.tasks.start(
            "Putting the moved pictures back",
            job,
            on_success=done,
            on_error=self.session.error.emit,
            cancellable=False,
        )
        task.done.connect(self.view.update_buttons)
