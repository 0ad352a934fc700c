"""Model-assisted labelling in the Data section: a bar over the thumbnail grid.

"Suggest labels" runs the best finished run over the unlabelled pictures in a worker (torch is
imported there, after the window is up). Each picture of the Unlabelled queue then shows its
suggestion as a badge, most useful first (or by file name); Enter confirms the selected picture's
suggestion (a person's label, like 1-9 that give another class), and "Accept N above X%" accepts
every confident suggestion at once (never one flagged unknown): those pictures train and never grade
a model (core.dataset.split.split_suggestions). Every acceptance is a label edit on the undo stack.
"Check training labels" finds likely label errors among the training pictures by k-fold
cross-validation and shows them in the same grid, each with the class it looks like: Enter relabels
it so, 1-9 give another class.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.gui.data.thumbnail_model import ACCEPTED, ISSUES, UNLABELLED, ImageFilter

if TYPE_CHECKING:
    from cnnstudio.core.suggest import LabelErrorReport, SuggestionSet
    from cnnstudio.gui.data.controller import DataController
    from cnnstudio.gui.data.thumbnail_model import ThumbnailModel
    from cnnstudio.gui.data.thumbnail_view import ThumbnailView
    from cnnstudio.gui.session import ProjectSession

USEFUL_FIRST, BY_NAME = "useful", "name"


class SuggestionHost(Protocol):
    """What the bar uses of the Data section's browser (gui/data/browser.py's DatasetBrowser).

    The browser creates the bar; the bar knows it only through this, so the import runs one way.
    """

    session: ProjectSession
    jobs: DataController
    model: ThumbnailModel
    grid: ThumbnailView

    def show_filter(self, kind: str = ..., label: str | None = None) -> None: ...

    def label_selected(self, label: str | None, advance: bool = True) -> None: ...

    def _advance(self, row: int, path: str) -> None: ...


class SuggestionBar(QWidget):
    def __init__(self, browser: SuggestionHost, parent=None):
        super().__init__(parent)
        self.browser = browser
        self.session = browser.session
        self.result: SuggestionSet | None = None
        self.errors: LabelErrorReport | None = None
        self.task = None
        self._accepted = 0  # the project's accepted suggestions when last counted: an undo lowers it

        self.suggest_button = QPushButton("Suggest labels", self)
        self.suggest_button.setToolTip(
            "Let the best finished run suggest a label for every unlabelled picture. "
            "You confirm with Enter or give another class with 1-9."
        )
        self.suggest_button.clicked.connect(lambda: self.compute())
        self.order = QComboBox(self)
        self.order.addItem("Most useful first", USEFUL_FIRST)
        self.order.addItem("By file name", BY_NAME)
        self.order.setToolTip(
            "Most useful first: the pictures the model hesitates most about, taken in turn from each class."
        )
        self.order.currentIndexChanged.connect(lambda _i: self._show_badges())
        self.threshold = QSpinBox(self, minimum=50, maximum=100, value=95, suffix=" %")
        self.threshold.setToolTip("How sure the model must be for “Accept all above” to take a suggestion")
        self.threshold.valueChanged.connect(lambda _v: self._update_counts())
        self.accept_button = QPushButton("Accept all above", self)
        self.accept_button.clicked.connect(self.accept_above)
        self.accepted_button = QToolButton(self, text="Accepted suggestions", checkable=True)
        self.accepted_button.setToolTip("Show the pictures labelled by accepting suggestions")
        self.accepted_button.toggled.connect(self._toggle_accepted)
        self.check_button = QPushButton("Check training labels", self)
        self.check_button.setToolTip(
            "Find likely wrong labels among the training pictures: 5 models each train on four fifths "
            "of them and judge the other fifth (k-fold cross-validation). Takes about 5 trainings."
        )
        self.check_button.clicked.connect(lambda: self.check_training_labels())
        self.issues_button = QToolButton(self, text="Likely label errors", checkable=True)
        self.issues_button.toggled.connect(self._toggle_issues)
        self.apart = QCheckBox("Validate on them apart", self)
        self.apart.setToolTip(
            "Off (recommended): suggestions accepted all at once only train; validation and test keep the "
            "pictures labelled by people, so a model is never graded on its own answers.\n"
            "On: some of them also go to validation, and Evaluate reports them separately."
        )
        self.apart.toggled.connect(self._set_apart)
        self.info = QLabel(self, wordWrap=True)
        # Short rows, so the bar asks for no more width than the rest of the Data section.
        row = QHBoxLayout()
        for w in (self.suggest_button, self.order, self.accept_button, self.threshold):
            row.addWidget(w)
        row.addStretch(1)
        row2 = QHBoxLayout()
        for w in (self.accepted_button, self.apart, self.check_button, self.issues_button):
            row2.addWidget(w)
        row2.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addLayout(row2)
        layout.addWidget(self.info)
        self.session.labels_changed.connect(lambda _p: self._labels_changed())
        self.session.project_changed.connect(lambda _p: self.clear())
        self.session.project_changed.connect(lambda _p: self._show_apart())
        self.session.index_changed.connect(lambda _i: self._show_badges())
        browser.grid.enter_handler = self.enter
        self._update_counts()
        self._show_apart()

    # ---- computing ---------------------------------------------------------------------------------
    def compute(self):
        """Suggestions for the unlabelled pictures, in a worker; the badges appear when done."""
        from cnnstudio.core.errors import UserError

        session = self.session
        if session.project is None or session.labels is None:
            return None
        paths = session.labels.unlabelled_queue()
        if not paths:
            self._say("Every usable picture has a label: there is nothing to suggest.")
            return None
        # The worker gets a copy: the app goes on editing the live project while it runs.
        project, index = session.project.snapshot(), session.index
        try:
            from cnnstudio.core.runs import best_finished_run

            best_finished_run(project)
        except UserError:
            self._say(
                f"There is no trained run yet to suggest labels for the {len(paths):,} unlabelled "
                "pictures: label a few pictures of each class, train a run (Train section), then "
                "press Suggest labels again."
            )
            return None

        try:
            self.task = self.browser.jobs.suggest(
                project, index, paths, on_success=self.set_result, on_error=self._say
            )
        except UserError as exc:
            self._say(str(exc))
            return None
        return self.task

    def set_result(self, result: SuggestionSet) -> None:
        self.result = result
        self._show_badges()
        self.browser.show_filter(UNLABELLED)
        self._say(
            f"{len(result.suggestions):,} suggestions by run {result.run}. Enter accepts the selected one, "
            "1-9 give another class."
        )

    def check_training_labels(self, folds: int | None = None, epochs: int | None = None):
        session = self.session
        if session.project is None:
            return None
        # A copy for the worker: training_label_errors indexes the project (and may save new split
        # assignments) while the app edits the live one; its report is applied on the GUI thread.
        project = session.project.snapshot()
        self.task = self.browser.jobs.check_training_labels(
            project, folds, epochs, on_success=self.set_errors, on_error=self._say
        )
        return self.task

    def set_errors(self, report: LabelErrorReport) -> None:
        self.errors = report
        self._show_badges()
        self._update_counts()
        self._say(
            f"{len(report.issues):,} likely label errors among {report.pictures:,} training pictures "
            f"({report.folds} folds, {report.seconds:.0f} s). Enter relabels a picture as it looks, 1-9 as you say."
        )
        if report.issues:
            self.issues_button.setChecked(True)

    def clear(self) -> None:
        """Another project: nothing said about the last one stays."""
        self.result = None
        self.errors = None
        self.info.setText("")
        self.info.setToolTip("")
        self.browser.model.set_suggestions({}, None)
        self._update_counts()

    # ---- showing -----------------------------------------------------------------------------------
    def _show_badges(self) -> None:
        badges: dict[str, tuple[str, float, bool]] = {}
        rank: dict[str, int] = {}
        if self.result is not None:
            for i, s in enumerate(self.result.suggestions):
                badges[s.path] = (s.label, s.confidence, s.unknown)
                rank[s.path] = i
        if self.errors is not None:
            for i, item in enumerate(self.errors.issues):
                badges[item["path"]] = (item["suggested"], item["suggested_confidence"], False)
                rank[item["path"]] = i
        useful = self.order.currentData() == USEFUL_FIRST
        self.browser.model.set_suggestions(badges, rank if useful else None)
        self._update_counts()

    def _pending(self) -> list:
        """Suggestions for pictures that are still unlabelled."""
        if self.result is None or self.session.labels is None:
            return []
        labels = self.session.labels
        return [
            s for s in self.result.suggestions if (x := labels.sample(s.path)) is not None and x.label is None
        ]

    def above_threshold(self) -> list:
        from cnnstudio.core.suggest import accept_all_above

        return accept_all_above(self._pending(), self.threshold.value() / 100.0)

    def _update_counts(self) -> None:
        n = len(self.above_threshold())
        self.accept_button.setText(f"Accept {n:,} above")
        self.accept_button.setEnabled(n > 0)
        project = self.session.project
        accepted = len(project.accepted) if project is not None else 0
        self._accepted = accepted
        self.accepted_button.setText(f"Accepted suggestions ({accepted:,})")
        issues = len(self.errors.issues) if self.errors is not None else 0
        self.issues_button.setText(f"Likely label errors ({issues:,})")
        self.issues_button.setEnabled(self.errors is not None)

    def _show_apart(self) -> None:
        project = self.session.project
        self.apart.blockSignals(True)
        self.apart.setChecked(project is not None and project.suggestions_apart)
        self.apart.blockSignals(False)

    def _set_apart(self, on: bool) -> None:
        project = self.session.project
        if project is not None and project.suggestions_apart != on:
            project.suggestions_apart = on
            self.session.save()  # places the accepted suggestions again (fill_missing_splits)

    def _labels_changed(self) -> None:
        before = self._accepted
        self._update_counts()
        if self._accepted < before:  # an undo took accepted suggestions back
            n = before - self._accepted
            self._say(
                f"Undone: {n:,} accepted suggestion{'s are' if n != 1 else ' is'} taken back; "
                f"{'those pictures are' if n != 1 else 'the picture is'} unlabelled again."
            )
            if n > 1 and self.browser.model.filter.kind == UNLABELLED:
                self._show_badges()  # many at once: the queue shows them again (and counts them)
        if self.browser.model.filter.kind == ACCEPTED:
            self._toggle_accepted(True)

    def _toggle_accepted(self, on: bool) -> None:
        if on:
            from cnnstudio.core.suggest import accepted_paths

            self.issues_button.setChecked(False)
            paths = accepted_paths(self.session.project, self.session.index) if self.session.index else []
            self.browser.model.set_filter(ImageFilter(kind=ACCEPTED, paths=frozenset(paths)))
        elif self.browser.model.filter.kind == ACCEPTED:
            self.browser.show_filter(UNLABELLED)

    def _toggle_issues(self, on: bool) -> None:
        if on and self.errors is not None:
            self.accepted_button.setChecked(False)
            paths = frozenset(item["path"] for item in self.errors.issues)
            self.browser.model.set_filter(ImageFilter(kind=ISSUES, paths=paths))
            if self.browser.model.rowCount():
                self.browser.grid.select_row(0)
        elif not on and self.browser.model.filter.kind == ISSUES:
            self.browser.show_filter(UNLABELLED)

    # ---- accepting ---------------------------------------------------------------------------------
    def enter(self, row: int) -> bool:
        """Enter on a picture with a badge in the queue (or the label errors): take the suggestion."""
        model = self.browser.model
        if model.filter.kind not in (UNLABELLED, ISSUES) or not (0 <= row < model.rowCount()):
            return False
        sample = model.sample(row)
        badge = model.suggestions.get(sample.path)
        if badge is None:
            return False
        if model.filter.kind == ISSUES:
            self.browser.grid.select_row(row)
            self.browser.label_selected(badge[0])
            return True
        if self.result is None:
            return False
        s = self.result.by_path().get(sample.path)
        if s is None or sample.label is not None:
            return False
        from cnnstudio.core.suggest import CONFIRMED

        self._accept([s], source=CONFIRMED)  # looked at and confirmed: a person's label
        self._say(f"Accepted the suggestion {s.label} ({s.confidence:.0%}) for {Path(sample.path).name}.")
        self.browser._advance(row, sample.path)
        return True

    def accept_above(self) -> None:
        from cnnstudio.core.suggest import BULK

        edit = self._accept(self._pending(), above=self.threshold.value() / 100.0, source=BULK)
        if edit is not None and edit.paths:
            self._say(
                f"Accepted {len(edit.paths):,} suggestions at {self.threshold.value()}% or more. They train "
                "the next run but never grade it: validation and test keep pictures labelled by people. "
                "Undo takes them back."
            )

    def _accept(self, suggestions: list, *, source: str, above: float | None = None):
        from cnnstudio.core.suggest import accept_suggestions

        run = self.result.run if self.result else ""
        edit = accept_suggestions(self.session.labels, suggestions, run, above=above, source=source)
        self.session.apply_edit(edit)
        return edit

    def _say(self, text: str) -> None:
        self.info.setText(text)
        self.info.setToolTip(text)
        self.session.message.emit(text)
