"""Label and class edits over a project and its index, as plain data that can be undone.

Every edit is first built as a `LabelEdit` (what each touched image's label was and becomes, and which
empty classes the project declares before and after), then applied or reverted. The GUI's undo stack
wraps exactly these two calls, so undo is tested here, without Qt.

Label edits live in project.json (`Project.labels`, `Project.extra_classes`); the user's folders are
untouched until `write_labels()` copies or moves the files into class folders. That step writes a
journal in the project first, so `undo_write()` puts every file back where it was, even after a crash.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.atomic import write_json_atomic
from cnnstudio.core.errors import UserError

if TYPE_CHECKING:
    from cnnstudio.core.dataset import DatasetIndex, Sample
    from cnnstudio.core.project import Project

JOURNAL_DIR = "journal"
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
    # Each image's accepted-suggestion mark before and after ({"label", "run", "confidence"} or None):
    # an accepted suggestion is marked; any other edit of that image clears the mark; undo restores it.
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


def resplit(project: Project, index: DatasetIndex, seed: int) -> list[str]:
    """Draw a new seeded split for every image whose split the folders do not give; store it.

    The same rule as `Project.index()`: given splits stay, unusable and unlabelled images get none.
    Returns the split's warnings (plain words). The caller saves the project.
    """
    from cnnstudio.core.dataset import assign_splits

    project.split_seed = seed
    project.split_assignments = {}
    project.warnings = assign_splits(index, ratios=project.split_ratios, seed=seed)
    _store_splits(project, index.samples)
    return project.warnings


def fill_missing_splits(project: Project, index: DatasetIndex) -> int:
    """Give a split to usable, labelled images that have none yet (labelled in the app); returns how many.

    The split is drawn as `Project.index()` would draw it (so images labelled in the app spread over
    training, validation and test in the project's ratios), over the classes concerned only; splits
    already drawn never move, so labelling a few images does not reshuffle the rest.
    """
    from cnnstudio.core.dataset import DatasetIndex, assign_splits

    missing = [s for s in index.samples if s.problem is None and s.label is not None and s.split is None]
    if not missing:
        return 0
    classes = {s.label for s in missing}
    members = [s for s in index.samples if s.problem is None and s.label in classes]
    before = [(s, s.split) for s in members]
    assign_splits(
        DatasetIndex(source=index.source, layout=index.layout, samples=members),
        ratios=project.split_ratios,
        seed=project.split_seed,
    )
    for sample, split in before:
        if split is not None:
            sample.split = split
    _store_splits(project, missing)
    return len(missing)


def _store_splits(project: Project, samples: Iterable[Sample]) -> None:
    for sample in samples:
        if sample.given_split or sample.problem is not None or sample.label is None or sample.split is None:
            continue
        project.split_assignments[project.key(sample.path)] = sample.split


def _sort_key(name: str) -> tuple:
    """Natural order: "2" before "10", "class_2" before "class_10"."""
    return tuple(int(p) if p.isdigit() else p.casefold() for p in re.split(r"(\d+)", name))


# ==== Write labels to folders ==========================================================================


@dataclass
class WritePlan:
    """What `write_labels` will do; shown to the user before anything is touched."""

    mode: str  # "copy" (into a destination) or "move" (in place, inside the image folder)
    destination: Path
    ops: list[tuple[str, str]]  # (from, to), absolute posix paths
    unchanged: int = 0  # already in the right class folder
    skipped_unlabelled: int = 0
    skipped_problems: int = 0

    def summary(self) -> str:
        verb = "copied" if self.mode == "copy" else "moved"
        parts = [f"{len(self.ops)} images will be {verb} into class folders in {self.destination}."]
        if self.unchanged:
            parts.append(f"{self.unchanged} are already in the right folder.")
        if self.skipped_unlabelled:
            parts.append(f"{self.skipped_unlabelled} unlabelled images stay where they are.")
        if self.skipped_problems:
            parts.append(f"{self.skipped_problems} unusable files stay where they are.")
        parts.append("No file is overwritten: a name that is taken gets a number added.")
        return " ".join(parts)


def plan_write(
    project: Project, index: DatasetIndex, mode: str, destination: Path | str | None = None
) -> WritePlan:
    """Plan a copy into `destination`/<class>/, or a move in place into <image folder>/<class>/."""
    if project.source is None:
        raise UserError("This project has no image folder.")
    source = Path(project.source)
    if mode == "copy":
        if destination is None:
            raise UserError("Choose a folder to copy the images into.")
        root = Path(destination).expanduser().resolve()
        if source.is_dir() and (root == source or source in root.parents):
            raise UserError(
                "Copy into a folder outside the image folder, or the copies would join the dataset twice."
            )
        if root == project.folder or project.folder in root.parents:
            raise UserError("Copy into a folder outside the project folder.")
    elif mode == "move":
        if destination is not None:
            raise UserError("Moving happens inside the image folder; to use another folder, copy instead.")
        if not source.is_dir() or getattr(index, "layout", "") == "csv":
            raise UserError("Images listed in a CSV file cannot be moved in place; copy them instead.")
        root = source
    else:
        raise ValueError(f"mode must be 'copy' or 'move', not {mode!r}")

    plan = WritePlan(mode=mode, destination=root, ops=[])
    taken: set[str] = set()
    for sample in index.samples:
        if sample.problem is not None:
            plan.skipped_problems += 1
            continue
        if sample.label is None:
            plan.skipped_unlabelled += 1
            continue
        current = Path(sample.path)
        if mode == "move" and _folder_label(source, current, index) == sample.label:
            plan.unchanged += 1  # its folder already says its label (also deeper inside the class folder)
            continue
        folder = (
            _target_root(source, current, index) / sample.label if mode == "move" else root / sample.label
        )
        target = _free_name(folder / current.name, taken)
        taken.add(target.as_posix().casefold())
        plan.ops.append((current.as_posix(), target.as_posix()))
    return plan


def _folder_label(source: Path, path: Path, index: DatasetIndex) -> str | None:
    """The label the folder layout gives a file (as scan_source reads it), or None."""
    try:
        parts = path.relative_to(source).parts
    except ValueError:
        return None
    depth = 1 if getattr(index, "layout", "") == "split_folders" else 0
    return parts[depth] if len(parts) >= depth + 2 else None


def _target_root(source: Path, path: Path, index: DatasetIndex) -> Path:
    """In place, a file in train/cat/ goes to train/<label>/: the split folder is kept."""
    if getattr(index, "layout", "") == "split_folders":
        try:
            parts = path.relative_to(source).parts
        except ValueError:
            return source
        if len(parts) >= 3:
            return source / parts[0]
    return source


def _free_name(target: Path, taken: set[str]) -> Path:
    """`target`, or `name_1.ext`, `name_2.ext`, ... : the first name that no file and no planned file has."""
    candidate, n = target, 0
    while candidate.exists() or candidate.as_posix().casefold() in taken:
        n += 1
        candidate = target.with_name(f"{target.stem}_{n}{target.suffix}")
    return candidate


def write_labels(
    project: Project,
    index: DatasetIndex,
    plan: WritePlan,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Carry out a plan; returns the journal that `undo_write` uses.

    The journal is written before the first file is touched, so even a crash half-way can be undone.
    After a move in place the files' folders say their labels, so those label edits leave project.json
    and the stored split follows each file to its new name.
    """
    journal = project.folder / JOURNAL_DIR / f"write-{datetime.now():%Y%m%d-%H%M%S-%f}.json"
    record: dict[str, Any] = {
        "schema_version": 1,
        "kind": "write_labels",
        "mode": plan.mode,
        "destination": plan.destination.as_posix(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "started",
        "ops": [list(op) for op in plan.ops],
        "created_dirs": [],
        "project_before": {
            "labels": dict(project.labels),
            "split_assignments": dict(project.split_assignments),
        },
    }
    record["created_dirs"] = folders_to_create(plan.ops)
    write_json_atomic(journal, record)

    by_path = {s.path: s for s in index.samples}
    total = len(plan.ops)
    done = 0
    stopped = False
    for frm, to in plan.ops:
        if should_stop is not None and should_stop():
            stopped = True
            break
        Path(to).parent.mkdir(parents=True, exist_ok=True)
        if plan.mode == "copy":
            _copy_exclusive(Path(frm), Path(to))
        else:
            _move_exclusive(Path(frm), Path(to))
            _rekey(project, frm, to)
            if frm in by_path:
                by_path[frm].path = to
        done += 1
        if progress is not None and (done % 64 == 0 or done == total):
            progress(done, total)
    record["status"] = "stopped" if stopped else "done"
    record["done"] = done
    write_json_atomic(journal, record)
    project.save()
    return journal


def folders_to_create(ops: Iterable[tuple[str, str]]) -> list[str]:
    """The outermost folders that writing `ops` will create (what an undo may remove again)."""
    created = {_first_missing(Path(to).parent) for _, to in ops}
    return sorted(p.as_posix() for p in created if p is not None)


def _first_missing(folder: Path) -> Path | None:
    """The outermost folder on the way to `folder` that does not exist yet (what we create)."""
    missing = None
    for p in [folder, *folder.parents]:
        if p.exists():
            break
        missing = p
    return missing


def _copy_exclusive(frm: Path, to: Path) -> None:
    # "xb" fails if the name exists, so a file that appeared since planning is never overwritten.
    with open(frm, "rb") as src, open(to, "xb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    shutil.copystat(frm, to)


def _move_exclusive(frm: Path, to: Path) -> None:
    try:
        os.link(frm, to)  # fails if `to` exists: never overwrites
    except FileExistsError:
        raise UserError(
            f"{to} appeared while writing; nothing was overwritten. Undo, then try again."
        ) from None
    except OSError:
        if to.exists():
            raise UserError(f"{to} appeared while writing; nothing was overwritten.") from None
        try:
            os.rename(frm, to)  # file systems without hard links
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            with open(frm, "rb") as src, open(to, "xb") as dst:  # another disk: copy, then remove
                shutil.copyfileobj(src, dst, 1 << 20)
            shutil.copystat(frm, to)
            os.unlink(frm)
        return
    os.unlink(frm)


def _rekey(project: Project, frm: str, to: str) -> None:
    old, new = project.key(frm), project.key(to)
    project.labels.pop(old, None)  # the folder now says the label
    if old in project.split_assignments:
        project.split_assignments[new] = project.split_assignments.pop(old)


def list_write_journals(project: Project) -> list[Path]:
    """Journals of writes that can still be undone, oldest first."""
    folder = project.folder / JOURNAL_DIR
    if not folder.exists():
        return []
    import json

    out = []
    for path in sorted(folder.glob("write-*.json")):
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("status") != "undone":
                out.append(path)
        except (OSError, ValueError):
            continue
    return out


def undo_write(
    project: Project,
    journal: Path | str,
    index: DatasetIndex | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Put every file of a write back where it was; returns how many files were restored.

    Works from the journal and the files on disk, so a write that stopped or crashed half-way is
    undone too. Copies are deleted; moved files go back; folders the write created are removed when
    empty; project.json gets back its label edits and split exactly as they were.
    """
    record, restored = undo_file_journal(journal, index, progress)
    before = record.get("project_before", {})
    project.labels = dict(before.get("labels", project.labels))
    project.split_assignments = dict(before.get("split_assignments", project.split_assignments))
    project.save()
    record["status"] = "undone"
    write_json_atomic(Path(journal), record)
    return restored


def read_journal(journal: Path | str) -> dict[str, Any]:
    import json

    try:
        return json.loads(Path(journal).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"The undo journal {journal} cannot be read ({exc}).") from exc


def undo_file_journal(
    journal: Path | str,
    index: DatasetIndex | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], int]:
    """The file half of an undo, shared by every journal of copies or moves (labels written to folders,
    predictions sorted into folders): (the journal's record, how many files were restored).

    The journal holds "mode" ("copy" or "move"), "ops" [(from, to), ...] planned before the first
    file was touched, and "created_dirs". Copies are deleted; moved files go back; folders the write
    created are removed when empty. With "claimed" (targets created empty before the files were
    written), an empty target whose source is still there is removed. The caller marks it undone.
    """
    record = read_journal(journal)
    if record.get("status") == "undone":
        raise UserError("This write was already undone.")
    by_path = {s.path: s for s in index.samples} if index is not None else {}
    ops = record["ops"]
    restored = 0
    for i, (frm, to) in enumerate(reversed(ops)):
        src, dst = Path(frm), Path(to)
        if record["mode"] == "copy":
            if dst.exists():
                dst.unlink()
                restored += 1
        elif dst.exists() and not src.exists():
            src.parent.mkdir(parents=True, exist_ok=True)
            _move_exclusive(dst, src)
            if to in by_path:
                by_path[to].path = frm
            restored += 1
        elif record.get("claimed") and dst.is_file() and src.exists() and dst.stat().st_size == 0:
            dst.unlink()  # our empty placeholder for a file that was never moved
        if progress is not None and ((i + 1) % 64 == 0 or i + 1 == len(ops)):
            progress(i + 1, len(ops))
    # Deepest first, so nested folders we created go before their parents.
    for folder in sorted({Path(to).parent for _, to in ops}, key=lambda p: len(p.parts), reverse=True):
        _remove_empty_up_to(folder, [Path(d) for d in record.get("created_dirs", [])])
    return record, restored


def _remove_empty_up_to(folder: Path, created: list[Path]) -> None:
    """Remove `folder` and its parents while empty, but only inside folders the write created."""
    for top in created:
        if folder == top or top in folder.parents:
            p = folder
            while True:
                try:
                    p.rmdir()
                except OSError:
                    return
                if p == top:
                    return
                p = p.parent
