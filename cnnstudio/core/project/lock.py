"""project.json shared by many processes: the inter-process lock (the three-way merge is merge.py).

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
from pathlib import Path

from filelock import FileLock, Timeout

from cnnstudio.core.errors import UserError

LOCK_NAME = ".project.json.lock"
OWNER_NAME = ".project.json.lock-owner"
LOCK_TIMEOUT_S = float(os.environ.get("CNNSTUDIO_PROJECT_LOCK_TIMEOUT", "30"))


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
