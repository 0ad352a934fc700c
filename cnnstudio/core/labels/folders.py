"""Writing labels to folders: copy the images into <destination>/<class>/, or move them in place.

`plan_write` says what will happen before anything is touched; `write_labels` writes a journal in
the project first (core/labels/journal.py), so `undo_write` puts every file back where it was, and
project.json gets back its label edits and split, even after a crash.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.atomic import write_json_atomic
from cnnstudio.core.errors import UserError
from cnnstudio.core.labels.journal import JOURNAL_DIR, folders_to_create, move_exclusive, undo_file_journal

if TYPE_CHECKING:
    from cnnstudio.core.dataset import DatasetIndex
    from cnnstudio.core.project import Project


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
            move_exclusive(Path(frm), Path(to))
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


def _copy_exclusive(frm: Path, to: Path) -> None:
    # "xb" fails if the name exists, so a file that appeared since planning is never overwritten.
    with open(frm, "rb") as src, open(to, "xb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    shutil.copystat(frm, to)


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
