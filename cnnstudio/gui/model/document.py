"""The design being edited: one ModelSpec at a time, its shape report, and every change as an undo step.

`DesignDocument` is the model the designer's views listen to (napari's way): the layer stack, the
property editor and the summary read it and change it only through `apply()`, which pushes a
`SpecCommand` on the undo stack. With a `ProjectSession` it uses the session's undo stack (so the
window's Edit menu undoes design changes too), keeps `project.spec` up to date and saves it, takes
the number of classes and the dataset's size from the session's index, and loads the project's
design when another project is opened. Without a session it keeps its own undo stack (previews,
tests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec import Layer, ModelSpec, ShapeReport, infer_shapes, template

if TYPE_CHECKING:
    from cnnstudio.gui.session import ProjectSession

DEFAULT_CLASSES = 10  # before a dataset is open: the last Dense layer will follow the real count
DEFAULT_TEMPLATE = "seed"
_COMMAND_ID = 0x5EC  # SpecCommand.id(): consecutive edits of one setting merge into one undo step


def design_problem(session: ProjectSession) -> str | None:
    """What stops the project's saved design from training, in plain words; None when it can train.

    For the Train section, which may be shown before the Model section was ever opened: it reads
    `project.spec` (the Seed CNN when none is saved yet) and the dataset's classes, as the designer does.
    """
    project = session.project
    if project is None:
        return "Open a project first."
    try:
        spec = ModelSpec.from_dict(project.spec) if project.spec else template(DEFAULT_TEMPLATE)
    except UserError as exc:
        return f"The saved model design cannot be read ({exc}); open the Model section to make a new one."
    classes = session.classes()
    return infer_shapes(spec, len(classes) if classes else DEFAULT_CLASSES).error


class SpecCommand(QUndoCommand):
    """Replace the whole spec (specs are immutable values, so undo just puts the old one back)."""

    def __init__(self, document: DesignDocument, before: ModelSpec, after: ModelSpec, text: str, merge_key):
        super().__init__(text)
        self.document = document
        self.before = before
        self.after = after
        self.merge_key = merge_key

    def id(self) -> int:
        return _COMMAND_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SpecCommand) or other.merge_key != self.merge_key:
            return False
        self.after = other.after
        if self.after.to_dict() == self.before.to_dict():  # typed back to where it started
            self.setObsolete(True)
        return True

    def redo(self) -> None:
        self.document._set(self.after)

    def undo(self) -> None:
        self.document._set(self.before)


class DesignDocument(QObject):
    spec_changed = Signal(object)  # ModelSpec
    report_changed = Signal(object)  # ShapeReport
    validity_changed = Signal(bool, object)  # valid, the problem in plain words (None when valid)
    dataset_changed = Signal()  # number of classes or images changed (the epoch time follows)
    message = Signal(str)  # something to tell the user (status bar)

    def __init__(self, session: ProjectSession | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self.undo_stack: QUndoStack = session.undo_stack if session is not None else QUndoStack(self)
        self._spec = template(DEFAULT_TEMPLATE)
        self._classes: list[str] = []
        self._train_images = 0
        self._val_images = 0
        self._report = infer_shapes(self._spec, self.num_classes)
        self._valid = self._report.ok
        if session is not None:
            session.project_changed.connect(self._project_changed)
            session.index_changed.connect(self._dataset_changed)
            session.labels_changed.connect(self._dataset_changed)
            session.splits_changed.connect(self._dataset_changed)
            if hasattr(session, "disk_changed"):  # another process changed the design: show theirs
                session.disk_changed.connect(self._disk_changed)
            self._read_dataset()
            self._load_from_project()

    # ---- reading -------------------------------------------------------------------------------
    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @property
    def report(self) -> ShapeReport:
        return self._report

    @property
    def num_classes(self) -> int:
        """The project's class count, or DEFAULT_CLASSES while no dataset is open."""
        return len(self._classes) if self._classes else DEFAULT_CLASSES

    @property
    def classes_known(self) -> bool:
        return bool(self._classes)

    @property
    def train_images(self) -> int:
        return self._train_images

    @property
    def val_images(self) -> int:
        return self._val_images

    def train_config(self) -> dict[str, Any] | None:
        """The project's training settings (batch size, device, ...) for timing, if any."""
        project = self.session.project if self.session is not None else None
        return project.train_config if project is not None else None

    def is_valid(self) -> bool:
        return self._report.ok

    def validation_message(self) -> str | None:
        """None when the design can be trained; else what is wrong and how to fix it."""
        return self._report.error

    # ---- changing ------------------------------------------------------------------------------
    def apply(self, spec: ModelSpec, text: str, merge_key: Any = None) -> None:
        """Make `spec` the design as one undo step called `text`. Consecutive changes with the
        same `merge_key` (typing in one field) become one step."""
        if spec.to_dict() == self._spec.to_dict():
            return
        command = SpecCommand(self, self._spec, spec, text, merge_key)
        if self.session is not None:
            self.session.push(command)
        else:
            self.undo_stack.push(command)

    def insert_layer(self, index: int, layer: Layer) -> None:
        self.apply(self._spec.insert_layer(index, layer), f"Add {layer.type}")

    def remove_layer(self, index: int) -> None:
        if index == 0:
            raise UserError("The Input layer gives the picture's size; it cannot be removed.")
        self.apply(self._spec.remove_layer(index), f"Delete {self._spec.layers[index].type}")

    def replace_layer(self, index: int, layer: Layer, text: str | None = None, merge_key: Any = None) -> None:
        self.apply(self._spec.replace_layer(index, layer), text or f"Change {layer.type}", merge_key)

    def move_layer(self, index: int, new_index: int) -> None:
        if index == 0 or new_index == 0:
            raise UserError("The Input layer stays at the top.")
        self.apply(self._spec.move_layer(index, new_index), f"Move {self._spec.layers[index].type}")

    def duplicate_layer(self, index: int) -> None:
        """A copy right below the original (with no name, so names stay unique)."""
        if index == 0:
            raise UserError("A model has one Input layer; it cannot be duplicated.")
        layer = self._spec.layers[index]
        self.apply(self._spec.insert_layer(index + 1, layer.replace(name=None)), f"Duplicate {layer.type}")

    def load_template(self, name: str) -> None:
        from cnnstudio.core.spec import TEMPLATES

        self.apply(template(name), f"Use template {TEMPLATES[name][0]}")

    def reset(self, spec: ModelSpec) -> None:
        """Show `spec` without an undo step (another project was opened)."""
        self._set(spec, save=False)

    def _set(self, spec: ModelSpec, save: bool = True) -> None:
        self._spec = spec
        if save:
            self._save_to_project()
        self.spec_changed.emit(spec)
        self._update_report()

    def weights_changed(self) -> None:
        """A weights file appeared on this computer: the same design, another report."""
        self._update_report()

    def _update_report(self) -> None:
        self._report = infer_shapes(self._spec, self.num_classes)
        self.report_changed.emit(self._report)
        if self._report.ok != self._valid or not self._report.ok:
            self._valid = self._report.ok
            self.validity_changed.emit(self._report.ok, self._report.error)

    # ---- the project ---------------------------------------------------------------------------
    def _save_to_project(self) -> None:
        project = self.session.project if self.session is not None else None
        if project is not None:
            project.spec = self._spec.to_dict()
            self.session.schedule_save()

    def _load_from_project(self) -> None:
        project = self.session.project if self.session is not None else None
        if project is None:
            return
        spec = None
        if project.spec:
            try:
                spec = ModelSpec.from_dict(project.spec)
            except UserError as exc:
                self.message.emit(
                    f"The saved model design could not be read ({exc}); starting from the Seed CNN."
                )
        if spec is None:
            spec = template(DEFAULT_TEMPLATE)
            project.spec = spec.to_dict()  # what Train uses is what the designer shows
            self.session.schedule_save()
        self.reset(spec)

    def _disk_changed(self, words: list) -> None:
        project = self.session.project if self.session is not None else None
        if "the model design" in words and project is not None and project.spec != self._spec.to_dict():
            self._load_from_project()

    def _project_changed(self, project) -> None:
        self._read_dataset()
        if project is not None:
            self._load_from_project()
        else:
            self.dataset_changed.emit()
            self._update_report()

    def refresh_dataset(self) -> None:
        """Read the classes and the split sizes again (the window calls it when the section shows)."""
        self._dataset_changed()

    def _dataset_changed(self, *_args) -> None:
        before = (tuple(self._classes), self._train_images, self._val_images)
        self._read_dataset()
        if before != (tuple(self._classes), self._train_images, self._val_images):
            self.dataset_changed.emit()
            self._update_report()

    def _read_dataset(self) -> None:
        session = self.session
        index = session.index if session is not None and session.project is not None else None
        if index is None:
            self._classes, self._train_images, self._val_images = [], 0, 0
            return
        self._classes = list(session.classes())
        counts: dict[str | None, int] = {}
        for sample in index.samples:
            if sample.problem is None and sample.label is not None:
                counts[sample.split] = counts.get(sample.split, 0) + 1
        self._train_images, self._val_images = counts.get("train", 0), counts.get("val", 0)
        if self._train_images + self._val_images == 0:  # no split yet: all labelled pictures would train
            self._train_images = sum(counts.values())
