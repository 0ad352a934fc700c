"""The undo journal of file copies and moves, shared by "Write labels to folders" and Predict's move.

A journal is written before the first file is touched: "mode" ("copy" or "move"), "ops"
[(from, to), ...] and "created_dirs". `undo_file_journal` puts every file back from it, even after a
crash half-way. Moves never overwrite a file.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.errors import UserError

if TYPE_CHECKING:
    from cnnstudio.core.dataset import DatasetIndex

JOURNAL_DIR = "journal"


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


def move_exclusive(frm: Path, to: Path) -> None:
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
            move_exclusive(dst, src)
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
