"""Copy (or move) predicted pictures into one folder per class, never overwriting a file.

With a `journal` (a file path), every target is claimed and the whole plan written to the journal
before the first picture is touched, the same journal core/labels/journal.py writes for "Write labels to
folders"; `undo_sort(journal)` then puts every picture back, even after a failure or a crash half-way.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cnnstudio.core.atomic import write_json_atomic
from cnnstudio.core.errors import UserError
from cnnstudio.core.export.results import UNKNOWN_FOLDER, Prediction

MAX_SUFFIX = 100_000


def folder_name(label: str) -> str:
    """A class name made safe as one folder name (no separators, not "." or "..")."""
    name = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", label).strip()
    return name if name not in ("", ".", "..") else "_"


def _folder_for(prediction: Prediction) -> str:
    """unknown/ for a picture unlike the training pictures, else its class's folder."""
    return UNKNOWN_FOLDER if prediction.unknown else folder_name(prediction.label)


class SortError(UserError):
    """Sorting stopped part-way: `done` are the (from, to) pairs carried out before it stopped."""

    def __init__(self, message: str, done: list[tuple[str, str]], journal: Path | None):
        super().__init__(message)
        self.done = done
        self.journal = journal


def new_sort_journal(folder: Path | str) -> Path:
    """A fresh journal file name in `folder` (the app keeps them in its data folder's journal/)."""
    return Path(folder) / f"sort-{datetime.now():%Y%m%d-%H%M%S-%f}.json"


def sort_into(
    predictions: list[Prediction],
    dest: Path | str,
    *,
    move: bool = False,
    journal: Path | str | None = None,
) -> list[tuple[str, str]]:
    """Copy (default) or move each picture to dest/<label>/<its name>; returns [(from, to)].

    A picture flagged as unlike the training pictures (``prediction.unknown``) goes to dest/unknown/.

    A name already taken gets a suffix: "cat.jpg", "cat (1).jpg", "cat (2).jpg", ... The target is
    claimed by creating it exclusively before anything is written, so an existing file is never
    overwritten, even by another program writing at the same moment. A failure part-way raises
    SortError, which says (and holds) what was already done.
    """
    dest = Path(dest).expanduser()
    folders = {_folder_for(p) for p in predictions}
    planned_created = _created_folders(dest, folders)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"The folder {dest} cannot be created ({exc.strerror or exc}).") from exc
    record: dict[str, Any] | None = None
    targets: list[Path] = []
    if journal is not None:
        # Claim every target first, so the journal names each one before any picture is touched.
        journal = Path(journal)
        try:
            for p in predictions:
                folder = dest / _folder_for(p)
                folder.mkdir(exist_ok=True)
                targets.append(_claim(folder, Path(p.path).name))
        except OSError as exc:
            for claimed in targets:
                claimed.unlink(missing_ok=True)
            raise UserError(
                f"Nothing was moved or copied: {dest} cannot be written ({exc.strerror or exc})."
            ) from exc
        record = {
            "schema_version": 1,
            "kind": "sort_predictions",
            "mode": "move" if move else "copy",
            "destination": dest.as_posix(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "status": "started",
            "claimed": True,
            "ops": [[str(p.path), str(t)] for p, t in zip(predictions, targets, strict=True)],
            "created_dirs": planned_created,
        }
        write_json_atomic(journal, record)
    done: list[tuple[str, str]] = []
    for i, p in enumerate(predictions):
        folder = dest / _folder_for(p)
        source = Path(p.path)
        target: Path | None = None
        try:
            if journal is None:
                folder.mkdir(exist_ok=True)
                target = _claim(folder, source.name)
            else:
                target = targets[i]
            if move:
                _move_onto_claimed(source, target)
            else:
                shutil.copyfile(source, target)  # onto our own empty claimed file
                shutil.copystat(source, target)
        except (OSError, UserError) as exc:
            if journal is None:
                if target is not None:
                    target.unlink(missing_ok=True)
            else:
                for unused in targets[i:]:  # our empty placeholders, never written
                    if unused.is_file() and unused.stat().st_size == 0:
                        unused.unlink(missing_ok=True)
                record["status"], record["done"] = "failed", len(done)
                write_json_atomic(journal, record)
            verb, done_verb = ("move", "moved") if move else ("copy", "copied")
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise SortError(
                f"Could not {verb} {source} to {folder} ({why}); {len(done)} pictures were already "
                f"{done_verb}" + (" (Undo puts them back)." if journal is not None else "."),
                done,
                journal,
            ) from exc
        done.append((str(source), str(target)))
    if record is not None:
        record["status"], record["done"] = "done", len(done)
        write_json_atomic(journal, record)
    return done


def undo_sort(journal: Path | str, progress=None) -> list[tuple[str, str]]:
    """Put the pictures of a sort back where they were (copies are deleted); returns the (from, to)
    pairs of the files now back at their old names, for a view to follow them."""
    from cnnstudio.core.labels.journal import read_journal, undo_file_journal

    moved = read_journal(journal).get("mode") == "move"
    before = read_journal(journal).get("ops", [])
    pending = [(f, t) for f, t in before if moved and Path(t).exists() and not Path(f).exists()]
    record, _restored = undo_file_journal(journal, progress=progress)
    back = [(to, frm) for frm, to in pending if Path(frm).exists() and not Path(to).exists()]
    record["status"] = "undone"
    write_json_atomic(Path(journal), record)
    return back


def _created_folders(dest: Path, folders: set[str]) -> list[str]:
    from cnnstudio.core.labels.journal import folders_to_create

    return folders_to_create((str(dest / f / "x"), str(dest / f / "x")) for f in sorted(folders))


def _claim(folder: Path, name: str) -> Path:
    stem, suffix = os.path.splitext(name)
    for n in range(MAX_SUFFIX):
        candidate = folder / (name if n == 0 else f"{stem} ({n}){suffix}")
        try:
            with open(candidate, "xb"):
                return candidate
        except FileExistsError:
            continue
    raise UserError(f"{folder} already has {MAX_SUFFIX:,} files called {name}; choose another folder.")


def _move_onto_claimed(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)  # replaces only our own empty placeholder; atomic on one disk
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copyfile(source, target)  # another disk: copy, then remove the original
        shutil.copystat(source, target)
        source.unlink()
