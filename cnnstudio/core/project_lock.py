"""project.json shared by many processes: an inter-process lock and a three-way merge of changes.

Every write of project.json is a read-modify-write under the project's lock file
(``.project.json.lock``, the `filelock` package): the file on disk is read fresh, only what this process
changed since it last read the file is applied to it, and the result is written atomically. So a GUI,
search workers and CLI commands on one project never undo each other's changes. Whoever holds the lock
writes its pid, computer and command next to it, so that a process kept waiting can name it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from cnnstudio.core.errors import UserError

LOCK_NAME = ".project.json.lock"
OWNER_NAME = ".project.json.lock-owner"
LOCK_TIMEOUT_S = float(os.environ.get("CNNSTUDIO_PROJECT_LOCK_TIMEOUT", "30"))

# Keys merged entry by entry (a label edit, a split assignment); the others are merged one level deep
# (spec, train_config: two processes changing different settings both keep theirs) or as a whole.
ENTRY_KEYS = {("labels",), ("split", "assignments"), ("accepted_suggestions",)}  # last: w16
DEEP_KEYS = {("spec",), ("train_config",), ("split",)}
SET_KEYS = {("excluded",), ("extra_classes",)}
_MISSING = object()

_depth = threading.local()


def _owner_text() -> str:
    command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv)) or "python"
    return json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "command": command[:300], "since": time.time()}
    )


def describe_owner(folder: Path) -> str:
    try:
        owner = json.loads((Path(folder) / OWNER_NAME).read_text(encoding="utf-8"))
        return f"process {owner['pid']} on {owner['host']} ({owner['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another program"


def _write_owner(folder: Path) -> None:
    """Write the owner file without following a link: a fresh file created exclusively (O_EXCL and
    O_NOFOLLOW) and renamed over the name, so a link planted there in a shared folder is replaced
    and whatever it points to is never written."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    temp = folder / f"{OWNER_NAME}.{os.getpid()}.{threading.get_ident()}.tmp"
    temp.unlink(missing_ok=True)  # a leftover of a killed process with our pid (unlink never follows)
    fd = os.open(temp, flags, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(_owner_text())
        os.replace(temp, folder / OWNER_NAME)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@contextmanager
def project_lock(folder: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the project's lock (re-entrant within a thread). Raises UserError naming the holder after
    `timeout` seconds (default LOCK_TIMEOUT_S)."""
    folder = Path(folder)
    held: dict[str, int] = _depth.__dict__.setdefault("held", {})
    key = str(folder)
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    lock = FileLock(folder / LOCK_NAME, timeout=LOCK_TIMEOUT_S if timeout is None else timeout)
    try:
        lock.acquire()
    except Timeout:
        waited = LOCK_TIMEOUT_S if timeout is None else timeout
        raise UserError(
            f"The project {folder.name} is being changed by {describe_owner(folder)}, which has not "
            f"finished after {waited:g} s. Wait for it to end (or close it), then try again."
        ) from None
    held[key] = 1
    try:
        try:
            _write_owner(folder)
        except OSError:
            pass
        yield
    finally:
        held[key] = 0
        # Both files go while still held (a waiter that then gets the unlinked file's lock sees it is
        # gone and takes a new one: filelock checks), so a project folder keeps only its own files.
        for name in (OWNER_NAME, LOCK_NAME):
            try:
                (folder / name).unlink(missing_ok=True)
            except OSError:
                pass
        lock.release()


@dataclass
class Merge:
    """The outcome of bringing another process's changes into ours."""

    data: dict[str, Any]
    theirs: list[str] = field(default_factory=list)  # what the other process changed, in words
    conflicts: list[tuple[str, Any, Any]] = field(default_factory=list)  # (picture, my label, theirs)
    # Pictures of `conflicts` whose label edit the other process (theirs) or this one (mine) removed:
    # that side's label is the one the picture's folder gives, not "unlabelled" (Project.reload fills
    # it in; the merge knows only label edits).
    theirs_removed: set[str] = field(default_factory=set)
    mine_removed: set[str] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return bool(self.theirs)


def normalized(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data))


def merge(base: dict[str, Any], mine: dict[str, Any], disk: dict[str, Any]) -> Merge:
    """Apply what changed from `base` to `mine` onto `disk` (the other processes' latest state)."""
    out = Merge(data=_merge(base, mine, disk, ()))
    out.theirs = _describe(base, disk)
    base_labels, mine_labels, disk_labels = (d.get("labels") or {} for d in (base, mine, disk))
    for k in set(mine_labels) | set(base_labels):
        a = mine_labels.get(k, _MISSING)
        b = base_labels.get(k, _MISSING)
        c = disk_labels.get(k, _MISSING)
        if a != b and c != b and a != c:
            out.conflicts.append((k, None if a is _MISSING else a, None if c is _MISSING else c))
            if c is _MISSING:
                out.theirs_removed.add(k)
            if a is _MISSING:
                out.mine_removed.add(k)
    out.conflicts.sort(key=lambda c: c[0])
    return out


def _merge(base: Any, mine: Any, disk: Any, path: tuple[str, ...]) -> Any:
    if not isinstance(mine, dict) or not isinstance(disk, dict):
        return mine if mine != base else disk
    base = base if isinstance(base, dict) else {}
    out = dict(disk)
    for k in set(mine) | set(base):
        here = (*path, k)
        a, b = mine.get(k, _MISSING), base.get(k, _MISSING)
        if here in ENTRY_KEYS and isinstance(a, dict):
            out[k] = _merge_entries(b if isinstance(b, dict) else {}, a, disk.get(k) or {})
        elif here in SET_KEYS and isinstance(a, list):
            out[k] = _merge_set(b if isinstance(b, list) else [], a, disk.get(k) or [])
        elif here in DEEP_KEYS and isinstance(a, dict) and isinstance(disk.get(k), dict):
            out[k] = _merge(b, a, disk[k], here)
        elif a != b:
            if a is _MISSING:
                out.pop(k, None)
            else:
                out[k] = a
    return out


def _merge_entries(base: dict, mine: dict, disk: dict) -> dict:
    out = dict(disk)
    for k in set(mine) | set(base):
        a = mine.get(k, _MISSING)
        if a != base.get(k, _MISSING):
            if a is _MISSING:
                out.pop(k, None)
            else:
                out[k] = a
    return dict(sorted(out.items()))


def _merge_set(base: list, mine: list, disk: list) -> list:
    added = [x for x in mine if x not in base]
    removed = {json.dumps(x) for x in base if x not in mine}
    out = [x for x in disk if json.dumps(x) not in removed]
    out += [x for x in added if x not in out]
    return out


def _describe(base: dict[str, Any], disk: dict[str, Any]) -> list[str]:
    """What changed on disk since `base`, in words."""
    words = []
    b, d = base.get("labels") or {}, disk.get("labels") or {}
    n = sum(1 for k in set(b) | set(d) if b.get(k, _MISSING) != d.get(k, _MISSING))
    if n:
        words.append(f"{n} label change{'s' if n != 1 else ''}")
    if (base.get("excluded") or []) != (disk.get("excluded") or []):
        words.append("the pictures left out")
    if (base.get("extra_classes") or []) != (disk.get("extra_classes") or []):
        words.append("the classes")
    if (base.get("split") or {}) != (disk.get("split") or {}):
        words.append("the split")
    if base.get("spec") != disk.get("spec"):
        words.append("the model design")
    if base.get("train_config") != disk.get("train_config"):
        words.append("the training settings")
    if base.get("source") != disk.get("source"):
        words.append("the image folder")
    if base.get("name") != disk.get("name"):
        words.append("the name")
    return words
