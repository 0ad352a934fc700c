"""Label and class edits over a project and its index, as plain data that can be undone.

Every edit is first built as a `LabelEdit` (what each touched image's label was and becomes, and which
empty classes the project declares before and after, and which accepted suggestions it marks), then
applied or reverted. The GUI's undo stack wraps exactly these two calls, so undo is tested here,
without Qt. Label edits live in project.json (`Project.labels`, `Project.extra_classes`,
`Project.accepted`); the user's folders are untouched (writing them is core/labels/folders.py).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cnnstudio.core.errors import UserError

if TYPE_CHECKING:
    from cnnstudio.core.dataset import DatasetIndex, Sample
    from cnnstudio.core.project import Project

_ABSENT = "\x00absent"  # marks "no entry in project.labels" (a real label cannot contain NUL)
_MAX_NAME = 80
_FORBIDDEN = set('/\\:*?"<>|')


def check_class_name(name: str) -> str:
    """The name, trimmed, or a UserError saying why it cannot name a class (it becomes a folder name)."""
    name = (name or "").strip()
    if not name:
        raise UserError("A class needs a name.")
    if len(name) > _MAX_NAME:
        raise UserError(f"A class name can have at most {_MAX_NAME} characters.")
    bad = sorted(_FORBIDDEN & set(name))
    if bad or name in {".", ".."} or name.startswith(".") or any(ord(c) < 32 for c in name):
        shown = " ".join(bad) if bad else "a leading dot"
        raise UserError(f'"{name}" cannot name a class: it becomes a folder name, so it cannot have {shown}.')
    return name


@dataclass
class LabelEdit:
    """One undoable change to labels and classes."""

    description: str
    paths: list[str] = field(default_factory=list)
    before: list[str | None] = field(default_factory=list)  # each image's label before
    after: list[str | None] = field(default_factory=list)
    entries_before: list[str | None] = field(default_factory=list)  # project.labels entries (or _ABSENT)
    extra_before: list[str] = field(default_factory=list)
    extra_after: list[str] = field(default_factory=list)
    # Each image's accepted-suggestion mark before and after ({"label", "run", "confidence", "source"}
    # or None): an accepted suggestion is marked; any other edit of that image clears the mark; undo
    # restores it.
    accepted_before: list[dict | None] = field(default_factory=list)
    accepted_after: list[dict | None] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        """True when this edit records accepted suggestions."""
        return any(mark is not None for mark in self.accepted_after)

    @property
    def empty(self) -> bool:
        return not self.paths and self.extra_before == self.extra_after


class LabelEditor:
    """Builds, applies and reverts label edits for one project and its current index."""

    def __init__(self, project: Project, index: DatasetIndex):
        self.project = project
        self.index = index
        self._by_path: dict[str, Sample] = {s.path: s for s in index.samples}

    # ---- reading ------------------------------------------------------------------------------
    def sample(self, path: str) -> Sample | None:
        return self._by_path.get(path)

    def counts(self) -> dict[str, int]:
        """Usable images per class, with 0 for declared classes that have none; sorted by name."""
        counts = Counter(s.label for s in self.index.samples if s.problem is None and s.label is not None)
        for name in self.project.extra_classes:
            counts.setdefault(name, 0)
        return dict(sorted(counts.items(), key=lambda kv: _sort_key(kv[0])))

    def classes(self) -> list[str]:
        return list(self.counts())

    def unlabelled_queue(self) -> list[str]:
        """Usable images without a label, in the index's order (the order the grid shows)."""
        return [s.path for s in self.index.samples if s.problem is None and s.label is None]

    def next_unlabelled(self, after: str | None = None) -> str | None:
        """The next unlabelled image after `after` in index order, wrapping around; None when all done."""
        samples = self.index.samples
        start = 0
        if after is not None:
            for i, s in enumerate(samples):
                if s.path == after:
                    start = i + 1
                    break
        n = len(samples)
        for k in range(n):
            s = samples[(start + k) % n]
            if s.problem is None and s.label is None and s.path != after:
                return s.path
        return None

    # ---- building edits ---------------------------------------------------------------------------
    def create_class(self, name: str) -> LabelEdit:
        name = check_class_name(name)
        self._require_new(name)
        return self._edit(f'Create class "{name}"', {}, declared_add=[name])

    def rename_class(self, old: str, new: str) -> LabelEdit:
        self._require_existing(old)
        new = check_class_name(new)
        if new == old:
            return LabelEdit(f'Rename "{old}"')
        if new.casefold() != old.casefold():
            self._require_new(new, hint=" To put both classes together, merge them.")
        changes = {s.path: new for s in self.index.samples if s.label == old}
        return self._edit(f'Rename "{old}" to "{new}"', changes, declared_add=[new], declared_remove=[old])

    def merge_classes(self, sources: Iterable[str], target: str) -> LabelEdit:
        """Every image of `sources` goes to `target` (an existing class, or a new name)."""
        sources = [s for s in dict.fromkeys(sources) if s != target]
        for name in sources:
            self._require_existing(name)
        target = check_class_name(target)
        if not sources:
            raise UserError("Choose at least one other class to merge.")
        moved = set(sources)
        changes = {s.path: target for s in self.index.samples if s.label in moved}
        names = ", ".join(f'"{n}"' for n in sources)
        return self._edit(
            f'Merge {names} into "{target}"', changes, declared_add=[target], declared_remove=sources
        )

    def delete_class(self, name: str) -> LabelEdit:
        """The class goes; its images stay in the project, unlabelled."""
        self._require_existing(name)
        changes = {s.path: None for s in self.index.samples if s.label == name}
        return self._edit(f'Delete class "{name}"', changes, declared_remove=[name])

    def assign(self, paths: Iterable[str], label: str | None) -> LabelEdit:
        """Give these images a label (None: make them unlabelled). A new name creates the class."""
        add = []
        if label is not None:
            label = check_class_name(label)
            if label not in self.classes():
                add = [label]
        changes = {}
        for path in paths:
            sample = self._by_path.get(path)
            if sample is None:
                raise UserError(f"{path} is not part of this project.")
            if sample.label != label:
                changes[path] = label
        n = len(changes)
        what = f"{n} image" + ("" if n == 1 else "s")
        text = f'Label {what} "{label}"' if label is not None else f"Unlabel {what}"
        return self._edit(text, changes, declared_add=add)

    def accept(self, marks: dict[str, dict]) -> LabelEdit:
        """Label each path with its accepted suggestion (`marks[path]["label"]`), marked as accepted."""
        changes, add = {}, []
        for path, mark in marks.items():
            if path not in self._by_path:
                raise UserError(f"{path} is not part of this project.")
            changes[path] = check_class_name(mark["label"])
            if changes[path] not in self.classes():
                add.append(changes[path])
        n = len(changes)
        text = f"Accept {n} suggestion" + ("" if n == 1 else "s")
        return self._edit(text, changes, declared_add=add, marks=dict(marks))

    # ---- applying ---------------------------------------------------------------------------------
    def apply(self, edit: LabelEdit, save: bool = True) -> None:
        project = self.project
        for path, label in zip(edit.paths, edit.after, strict=True):
            self._by_path[path].label = label
            project.labels[project.key(path)] = label
        project.extra_classes = list(edit.extra_after)
        _set_marks(project, edit.paths, edit.accepted_after)
        if save:
            project.save()

    def revert(self, edit: LabelEdit, save: bool = True) -> None:
        project = self.project
        for path, label, entry in zip(edit.paths, edit.before, edit.entries_before, strict=True):
            self._by_path[path].label = label
            key = project.key(path)
            if entry == _ABSENT:
                project.labels.pop(key, None)
            else:
                project.labels[key] = entry
        project.extra_classes = list(edit.extra_before)
        _set_marks(project, edit.paths, edit.accepted_before)
        if save:
            project.save()

    # ---- helpers ----------------------------------------------------------------------------------
    def _require_existing(self, name: str) -> None:
        if name not in self.classes():
            raise UserError(f'There is no class called "{name}".')

    def _require_new(self, name: str, hint: str = "") -> None:
        # Case-insensitive, because "Cat" and "cat" are one folder on Windows and macOS.
        for existing in self.classes():
            if existing.casefold() == name.casefold():
                raise UserError(f'There is already a class called "{existing}".{hint}')

    def _edit(
        self,
        description: str,
        changes: dict[str, str | None],
        declared_add: Iterable[str] = (),
        declared_remove: Iterable[str] = (),
        marks: dict[str, dict] | None = None,
    ) -> LabelEdit:
        project = self.project
        edit = LabelEdit(description)
        marks = marks or {}
        present = Counter(s.label for s in self.index.samples if s.problem is None and s.label is not None)
        for path, label in changes.items():
            sample = self._by_path[path]
            edit.paths.append(path)
            edit.before.append(sample.label)
            edit.after.append(label)
            edit.entries_before.append(project.labels.get(project.key(path), _ABSENT))
            edit.accepted_before.append(project.accepted.get(project.key(path)))
            edit.accepted_after.append(marks.get(path))
            if sample.problem is None:
                if sample.label is not None:
                    present[sample.label] -= 1
                if label is not None:
                    present[label] += 1
        declared = (set(self.classes()) | set(declared_add)) - set(declared_remove)
        edit.extra_before = list(project.extra_classes)
        edit.extra_after = sorted((c for c in declared if present[c] <= 0), key=_sort_key)
        return edit


def _set_marks(project: Project, paths: list[str], marks: list[dict | None]) -> None:
    if len(marks) != len(paths):  # an edit made before marks existed
        return
    for path, mark in zip(paths, marks, strict=True):
        key = project.key(path)
        if mark is None:
            project.accepted.pop(key, None)
        else:
            project.accepted[key] = dict(mark)


def _sort_key(name: str) -> tuple:
    """Natural order: "2" before "10", "class_2" before "class_10"."""
    return tuple(int(p) if p.isdigit() else p.casefold() for p in re.split(r"(\d+)", name))
