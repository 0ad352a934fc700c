"""Undoable edits: each wraps a plain-data change from core and the session's signals.

Shared by every section that edits the project (Data, Evaluate) and by the session itself. The
dependency runs one way: the session imports these commands; the commands know the session only
as `EditSession`, the few things they use of it (gui/session.py's ProjectSession is one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtGui import QUndoCommand

if TYPE_CHECKING:
    from cnnstudio.core.dataset import DatasetIndex, Sample
    from cnnstudio.core.labels.edits import LabelEdit, LabelEditor
    from cnnstudio.core.project import Project


class EditSession(Protocol):
    """What an undo command uses of the open project's session."""

    project: Project
    index: DatasetIndex
    labels: LabelEditor
    splits_changed: Any  # a Qt signal without arguments

    def edit_applied(self, paths: list[str]) -> None: ...

    def replace_samples(self, samples: list[Sample]) -> None: ...

    def schedule_save(self) -> None: ...


class LabelCommand(QUndoCommand):
    """A label or class edit (assign, create, rename, merge, delete), built by core.labels.edits.LabelEditor."""

    def __init__(self, session: EditSession, edit: LabelEdit):
        super().__init__(edit.description)
        self.session = session
        self.edit = edit
        self._editor = session.labels

    def redo(self) -> None:
        self._editor.apply(self.edit, save=False)
        self.session.edit_applied(list(self.edit.paths))

    def undo(self) -> None:
        self._editor.revert(self.edit, save=False)
        self.session.edit_applied(list(self.edit.paths))


class ExcludeCommand(QUndoCommand):
    """Leave images out of the project (duplicates: "Keep one"). The files themselves stay."""

    def __init__(self, session: EditSession, paths: list[str], text: str):
        super().__init__(text)
        self.session = session
        project = session.project
        self.keys = {project.key(p) for p in paths}
        self.paths = set(paths)
        self.before_excluded = set(project.excluded)
        self.before_samples: list[Sample] = list(session.index.samples)

    def redo(self) -> None:
        project = self.session.project
        project.excluded = self.before_excluded | self.keys
        self.session.replace_samples([s for s in self.before_samples if s.path not in self.paths])
        self.session.schedule_save()

    def undo(self) -> None:
        self.session.project.excluded = set(self.before_excluded)
        self.session.replace_samples(list(self.before_samples))
        self.session.schedule_save()


class ResplitCommand(QUndoCommand):
    """Draw a new train/validation/test split with another seed."""

    def __init__(self, session: EditSession, seed: int):
        super().__init__(f"Re-split with seed {seed}")
        self.session = session
        self.seed = seed
        project = session.project
        self.before = (project.split_seed, dict(project.split_assignments))
        self.before_splits = [(s, s.split) for s in session.index.samples]

    def redo(self) -> None:
        from cnnstudio.core.labels.resplit import resplit

        resplit(self.session.project, self.session.index, self.seed)
        self.session.schedule_save()
        self.session.splits_changed.emit()

    def undo(self) -> None:
        project = self.session.project
        project.split_seed, assignments = self.before
        project.split_assignments = dict(assignments)
        for sample, split in self.before_splits:
            sample.split = split
        self.session.schedule_save()
        self.session.splits_changed.emit()
