"""DecodeCache: every picture decoded once per geometry, kept as uint8 rows in a memory-mapped .npy file.

One store per geometry (height, width, channels, fit) under ``cache_dir/decoded/``, for example
``64x64x3-crop/`` (see row_store.py for its files). A file is known by its path, size and
modification time, so an added or changed file is decoded alone and a removed one costs nothing.
A stop or a crash keeps the rows decoded so far. One process writes a given cache at a time:
within a process a lock per cache folder serialises loads, and between processes (search workers,
a GUI and a CLI on one project) a lock file next to each store does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
from filelock import FileLock

from cnnstudio.core.dataset.decode import decode_image
from cnnstudio.core.dataset.parallel import Progress, ShouldStop, default_workers
from cnnstudio.core.dataset.problems import DAMAGED, ImageProblem
from cnnstudio.core.dataset.row_store import RowStore

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _folder_lock(folder: Path) -> threading.Lock:
    """One lock per cache folder, shared by every DecodeCache on it in this process (the project's
    and, say, the evaluation view's), so two loads never write the same store at once."""
    key = os.path.normcase(os.path.abspath(folder))
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


class DecodeStopped(Exception):
    """DecodeCache.load was stopped by should_stop(); the rows decoded so far are kept in the cache."""


class DecodeCache:
    """Decoded pictures, reused across epochs, runs and sessions (safe to delete: rebuilt on demand).

    After each load, `last_failures` lists (path, reason) for files that could not be decoded; their
    rows in the returned array are zeros. Callers are expected to pass usable files only.
    """

    def __init__(self, cache_dir: Path | str) -> None:
        self.cache_dir = Path(cache_dir)
        self.last_failures: list[tuple[str, str]] = []
        self._lock = _folder_lock(self.cache_dir)

    def store_dir(self, height: int, width: int, channels: int, fit: str) -> Path:
        return self.cache_dir / "decoded" / f"{height}x{width}x{channels}-{fit}"

    def load(
        self,
        paths: Sequence[str],
        height: int,
        width: int,
        channels: int,
        fit: str,
        *,
        workers: int | None = None,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> np.ndarray:
        """uint8 (N, C, H, W) for `paths`, in their order; only files not decoded before are decoded.

        Memory: when the files' rows lie in the store contiguously and in the requested order (as
        after a first load of the same list), the result is a copy-on-write memory map of the store:
        nothing is read until used. Otherwise the rows are gathered into a new in-memory array of
        N*C*H*W bytes. `progress(done, total)` counts files decoded; DecodeStopped is raised after a stop.
        """
        shape = (channels, height, width)
        geometry = (height, width, channels, fit)
        _validate(*geometry)
        folder = self.store_dir(height, width, channels, fit)
        folder.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, FileLock(folder.parent / f".{folder.name}.lock"):
            store = RowStore(self.store_dir(height, width, channels, fit), shape)
            rows, to_decode, failures = store.lookup(paths)
            stopped = False
            if to_decode:
                stopped = store.decode(
                    to_decode,
                    partial(_decode_batch, geometry=geometry),
                    workers=workers or default_workers(),
                    progress=progress,
                    should_stop=should_stop,
                    failures=failures,
                )
            self.last_failures = [(p, failures[p]) for p in dict.fromkeys(paths) if p in failures]
            if stopped:
                raise DecodeStopped("Stopped before every picture was prepared; the ones done are kept.")
            if to_decode:
                rows = [store.row_of(p) for p in paths]  # growing the store may have moved rows
            return store.gather(rows)


def _validate(height: int, width: int, channels: int, fit: str) -> None:
    if channels not in (1, 3) or fit not in ("stretch", "crop", "pad") or height < 1 or width < 1:
        raise ValueError(f"bad geometry: {height}x{width}, {channels} channels, fit {fit!r}")


def _decode_batch(paths: list[str], geometry: tuple[int, int, int, str]) -> list[np.ndarray | str]:
    """Decoded arrays, or the plain reason for each file that failed."""
    out: list[np.ndarray | str] = []
    for path in paths:
        try:
            out.append(decode_image(path, *geometry))
        except ImageProblem as exc:
            out.append(exc.reason)
        except Exception as exc:  # one odd file must not stop the other thousands
            out.append(f"{DAMAGED} (it could not be prepared: {type(exc).__name__}: {exc})")
    return out
