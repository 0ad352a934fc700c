"""Write files so that a crash or a kill at any moment leaves either the old or the new file, and
so that a full disk is a message in words ("needs X MB in FOLDER, Y MB free"), never a crash.

A file that will be memory-mapped and written through the map (the decode cache) is allocated for
real first (`allocate`): writing a page of a sparse mapped file on a full disk is a SIGBUS that
kills the app, while a failed allocation is an OSError.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cnnstudio.core.errors import UserError

NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class NoSpaceError(UserError, OSError):
    """The disk (or the user's quota) is full. A UserError with the message in words, and an OSError
    (errno ENOSPC) for code that handles failed writes."""

    def __init__(self, message: str):
        OSError.__init__(self, errno.ENOSPC, message)

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self):  # OSError's own would call __init__ with (errno, message)
        return (type(self), (str(self.strerror),))


def megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def free_bytes(folder: Path) -> int | None:
    """Free bytes on the disk that holds `folder` (or its nearest existing parent), None if unknown."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def no_space(folder: Path, needed: int | None, what: str) -> NoSpaceError:
    """The error for `what` not fitting in `folder`, with the numbers."""
    free = free_bytes(folder)
    needs = f"needs {megabytes(needed)} in {folder}" if needed else f"needs more space in {folder}"
    have = f"{megabytes(free)} free" if free is not None else "the disk is full"
    return NoSpaceError(
        f"Not enough disk space: {what} {needs}, {have}. Free some space on that disk (or move the "
        "project to a bigger one) and try again; nothing saved before was changed."
    )


def check_free_space(folder: Path, needed: int, what: str) -> None:
    """Refuse in words, before writing anything, when `needed` bytes do not fit in `folder`."""
    free = free_bytes(folder)
    if free is not None and needed > free:
        raise no_space(folder, needed, what)


@contextlib.contextmanager
def words_for_full_disk(folder: Path, needed: int | None, what: str) -> Iterator[None]:
    """Turn "No space left on device" (or a full quota) inside the block into a NoSpaceError."""
    try:
        yield
    except NoSpaceError:
        raise
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise no_space(folder, needed, what) from exc
        raise


def allocate(fd: int, size: int, folder: Path, what: str) -> None:
    """Reserve `size` bytes of the open file for real (not a sparse file), or raise NoSpaceError."""
    with words_for_full_disk(folder, size, what):
        if hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(fd, 0, size)
                return
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
        # No fallocate here (macOS, some filesystems): write the zeros, which takes the blocks too.
        have = os.fstat(fd).st_size
        block = bytes(1 << 20)
        os.lseek(fd, have, os.SEEK_SET)
        while have < size:
            have += os.write(fd, block[: min(len(block), size - have)])


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    what = f"saving {path.name}"
    with words_for_full_disk(path.parent, len(data), what):
        path.parent.mkdir(parents=True, exist_ok=True)
    check_free_space(path.parent, len(data), what)
    with words_for_full_disk(path.parent, len(data), what):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a saved file reads like any other
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _read_umask() -> int:
    # os.umask can only be read by setting it, and it is process-wide: a thread creating a file in
    # between would get mode 0. So it is read once, at import (before any worker thread starts).
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _umask() -> int:
    return _UMASK


def write_json_atomic(path: Path, data: Any) -> None:
    write_bytes_atomic(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
