"""Copy (or move) predicted pictures into one folder per class, never overwriting a file."""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

from cnnstudio.core.errors import UserError
from cnnstudio.core.export.results import UNKNOWN_FOLDER, Prediction

MAX_SUFFIX = 100_000


def folder_name(label: str) -> str:
    """A class name made safe as one folder name (no separators, not "." or "..")."""
    name = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", label).strip()
    return name if name not in ("", ".", "..") else "_"


def sort_into(
    predictions: list[Prediction], dest: Path | str, *, move: bool = False
) -> list[tuple[str, str]]:
    """Copy (default) or move each picture to dest/<label>/<its name>; returns [(from, to)].

    A picture flagged as unlike the training pictures (``prediction.unknown``) goes to dest/unknown/.

    A name already taken gets a suffix: "cat.jpg", "cat (1).jpg", "cat (2).jpg", ... The target is
    claimed by creating it exclusively before anything is written, so an existing file is never
    overwritten, even by another program writing at the same moment.
    """
    dest = Path(dest).expanduser()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"The folder {dest} cannot be created ({exc.strerror or exc}).") from exc
    done: list[tuple[str, str]] = []
    for p in predictions:
        folder = dest / (UNKNOWN_FOLDER if p.unknown else folder_name(p.label))
        folder.mkdir(exist_ok=True)
        source = Path(p.path)
        target = _claim(folder, source.name)
        try:
            if move:
                _move_onto_claimed(source, target)
            else:
                shutil.copyfile(source, target)  # onto our own empty claimed file
                shutil.copystat(source, target)
        except OSError as exc:
            target.unlink(missing_ok=True)
            verb, done_verb = ("move", "moved") if move else ("copy", "copied")
            raise UserError(
                f"Could not {verb} {source} to {folder} ({exc.strerror or exc}); "
                f"{len(done)} pictures were already {done_verb}."
            ) from exc
        done.append((str(source), str(target)))
    return done


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
