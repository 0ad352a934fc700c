"""The Data section's job control: the background work it starts, apart from the widgets.

    jobs = DataController(browser)                 # the browser creates it; browser.jobs
    jobs.write_labels(plan)                        # the plan the browser's dialog confirmed -> Task
    jobs.undo_last_write()                         # the last write to folders, put back -> Task | None
    jobs.suggest(project, index, paths, on_success, on_error)          # labels for unlabelled pictures
    jobs.check_training_labels(project, folds, epochs, on_success, on_error)  # k-fold label errors

Every job runs in the session's workers (core.labels.folders, core.suggest) on what it is given:
suggestions and the label check get a `Project.snapshot()`, so the app goes on editing the live
project. The browser asks first (the write dialog) and the suggestion bar (suggestions.py) checks
and shows; the controller reports through the browser's `say` and `after_write`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

if TYPE_CHECKING:
    from cnnstudio.core.dataset import DatasetIndex
    from cnnstudio.core.labels.folders import WritePlan
    from cnnstudio.core.project import Project
    from cnnstudio.gui.session import ProjectSession
    from cnnstudio.gui.workers import Task


@runtime_checkable
class DataView(Protocol):
    """What the controller uses of its widget (DatasetBrowser, a QWidget: also the controller's
    parent and its messages' parent). Named here so the controller need not import the browser,
    which imports the controller; tests/gui/test_view_protocols.py checks the real browser has all of it."""

    session: ProjectSession

    def say(self, text: str) -> None: ...
    def after_write(self, text: str, mode: str) -> None: ...


class DataController(QObject):
    def __init__(self, browser: DataView):
        super().__init__(browser)  # type: ignore[arg-type]  # the browser is a QWidget
        self.browser = browser
        self.session = browser.session

    # ---- labels into folders -------------------------------------------------------------------------
    def write_labels(self, plan: WritePlan) -> Task:
        """Carry out a confirmed plan (copy or move into class folders) in a worker."""
        from cnnstudio.core.labels.folders import write_labels

        project, index = self.session.project, self.session.index

        def done(_journal) -> None:
            verb = "Copied" if plan.mode == "copy" else "Moved"
            self.browser.after_write(
                f"{verb} {len(plan.ops):,} images into class folders in {plan.destination}.", plan.mode
            )

        return self.session.tasks.start(
            "Writing labels to folders",
            lambda ctx: write_labels(
                project, index, plan, progress=ctx.progress, should_stop=ctx.should_stop
            ),
            on_success=done,
            on_error=lambda text: QMessageBox.warning(self.parent(), "Write labels to folders", text),
        )

    def undo_last_write(self) -> Task | None:
        from cnnstudio.core.labels.folders import list_write_journals, undo_write

        session = self.session
        if session.project is None:
            return None
        journals = list_write_journals(session.project)
        if not journals:
            self.browser.say("There is no write to folders to undo.")
            return None
        project, index, journal = session.project, session.index, journals[-1]
        mode = "move" if '"mode": "move"' in journal.read_text(encoding="utf-8") else "copy"

        def done(n) -> None:
            self.browser.after_write(f"Undone: {n:,} files are back as they were.", mode)

        return session.tasks.start(
            "Undoing the write to folders",
            lambda ctx: undo_write(project, journal, index, progress=ctx.progress),
            on_success=done,
            on_error=lambda text: QMessageBox.warning(self.parent(), "Undo write to folders", text),
            cancellable=False,
        )

    # ---- model-assisted labelling --------------------------------------------------------------------
    def suggest(
        self,
        project: Project,
        index: DatasetIndex,
        paths: list[str],
        on_success: Callable,
        on_error: Callable[[str], None],
    ) -> Task:
        """Suggestions by the best finished run for `paths` (the suggestion bar has checked there is one)."""

        def job(ctx):
            from cnnstudio.core.suggest import suggest

            return suggest(
                project, index=index, paths=paths, progress=then_scoring(ctx), should_stop=ctx.should_stop
            )

        return self.session.tasks.start("Suggesting labels", job, on_success=on_success, on_error=on_error)

    def check_training_labels(
        self,
        project: Project,
        folds: int | None,
        epochs: int | None,
        on_success: Callable,
        on_error: Callable[[str], None],
    ) -> Task:
        """Likely label errors among the training pictures, by k-fold cross-validation."""

        def job(ctx):
            from cnnstudio.core.suggest import DEFAULT_FOLDS, training_label_errors

            return training_label_errors(
                project,
                folds=folds or DEFAULT_FOLDS,
                epochs=epochs,
                progress=ctx.progress,
                should_stop=ctx.should_stop,
            )

        return self.session.tasks.start(
            "Checking training labels", job, on_success=on_success, on_error=on_error
        )


def then_scoring(ctx):
    """The pictures' progress, then words for the seconds after the last one (ordering, unknown
    marks): "3,000 / 3,000" alone looked stuck."""

    def progress(done: int, total: int) -> None:
        ctx.progress(done, total)
        if total and done >= total:
            ctx.set_text(f"Suggesting labels: all {total:,} pictures read; ordering the suggestions…")
            ctx.progress(0, 0)  # a busy bar from now on: the work goes on, not a full bar that sits

    return progress
