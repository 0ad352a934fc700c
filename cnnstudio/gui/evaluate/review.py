"""Undoable "accept this label": the GUI's command over core.runs.review's store."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QUndoCommand

from cnnstudio.core.runs.review import REVIEW_FILE, ReviewStore

__all__ = ["REVIEW_FILE", "AcceptCommand", "ReviewStore"]


class AcceptCommand(QUndoCommand):
    """Accept pictures' labels as correct (dismiss them from the likely label errors)."""

    def __init__(self, store: ReviewStore, paths: list[str], changed: Callable[[], None]):
        n = len(paths)
        super().__init__(f"Accept the label of {n} picture" + ("" if n == 1 else "s"))
        self.store = store
        self.paths = list(paths)
        self.changed = changed
        self.before = {p for p in paths if store.is_accepted(p)}

    def redo(self) -> None:
        self.store.set_accepted(self.paths, True)
        self.changed()

    def undo(self) -> None:
        self.store.set_accepted([p for p in self.paths if p not in self.before], False)
        self.changed()
