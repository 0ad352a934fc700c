"""The on-disk store behind DecodeCache: one geometry's rows file and its manifest.

Layout, one folder per geometry (height, width, channels, fit)::

    manifest.json     {"decoder": ..., "shape": [C, H, W], "file": "rows-000002.npy", "used": n,
                       "entries": {path: [size, mtime_ns, row]}}
    rows-000002.npy   uint8 (capacity, C, H, W)

Rows are written once and never overwritten: a changed file gets a new row, so an array handed out
earlier never changes under its holder. When the rows file is full, live rows are copied into a new,
larger file (dropping stale rows and files that no longer exist) and the manifest is switched to it
atomically. The manifest only names rows already written and flushed, so a crash or a stop leaves a
consistent store.

A rows file is allocated for real before it is mapped (core/atomic.allocate), after checking the
free space: on a full disk, writing a page of a sparse mapped file is a SIGBUS that kills the app;
here it is a message ("needs X MB in FOLDER, Y MB free") and the store stays as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import PIL

from cnnstudio.core.atomic import allocate, check_free_space, words_for_full_disk
from cnnstudio.core.dataset.parallel import Progress, ShouldStop, map_chunks
from cnnstudio.core.dataset.problems import MISSING

# Bump when decode_image changes its output; a Pillow upgrade also re-decodes (resampling may differ).
DECODER_VERSION = 1
DECODER_ID = f"{DECODER_VERSION}/pillow-{PIL.__version__}"
MANIFEST_SAVE_INTERVAL_S = 2.0
GATHER_ROWS = 4096  # rows copied per step when rows are moved or gathered out of order
WHAT = "decoding the pictures"  # for the message on a full disk

Batch = Callable[[list[str]], list[Any]]  # paths -> decoded arrays, or a reason (str) per failed file


class RowStore:
    """One geometry's rows file and manifest. Not thread-safe: DecodeCache holds a lock around it."""

    def __init__(self, folder: Path, shape: tuple[int, int, int]) -> None:
        self.folder = folder
        self.shape = shape
        self.manifest_path = folder / "manifest.json"
        self.file: str | None = None
        self.used = 0
        self.entries: dict[str, list[int]] = {}  # path -> [size, mtime_ns, row]
        self._signatures: dict[str, tuple[int, int]] = {}
        manifest = self._read_manifest()
        if manifest is not None:
            self.file = manifest["file"]
            self.used = int(manifest["used"])
            self.entries = manifest["entries"]
        self._remove_stray_files()

    # -- reading -----------------------------------------------------------------------------
    def _read_manifest(self) -> dict[str, Any] | None:
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            if manifest.get("decoder") != DECODER_ID or list(manifest.get("shape", ())) != list(self.shape):
                return None  # made by another decoder: rebuilt from scratch
            data = np.load(self.folder / manifest["file"], mmap_mode="r")
            if data.shape[1:] != self.shape or data.shape[0] < int(manifest["used"]):
                return None
            return manifest
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or damaged: the cache is only a cache

    def _remove_stray_files(self) -> None:
        if not self.folder.is_dir():
            return
        for path in self.folder.glob("rows-*.npy*"):
            if path.name != self.file:
                with contextlib.suppress(OSError):  # still mapped by an earlier array (Windows)
                    path.unlink()

    def lookup(self, paths: Sequence[str]) -> tuple[list[int], list[str], dict[str, str]]:
        """(row per path or -1, paths to decode (unique), failures known already)."""
        rows: list[int] = []
        to_decode: dict[str, None] = {}
        failures: dict[str, str] = {}
        for path in paths:
            signature = self._signature(path)
            entry = self.entries.get(path)
            if signature is None:
                failures[path] = f"{MISSING} (it was moved or deleted)"
                rows.append(-1)
            elif entry is not None and (entry[0], entry[1]) == signature:
                rows.append(entry[2])
            else:
                to_decode[path] = None
                rows.append(-1)
        return rows, list(to_decode), failures

    def _signature(self, path: str) -> tuple[int, int] | None:
        if path not in self._signatures:
            try:
                st = os.stat(path)
            except OSError:
                return None
            self._signatures[path] = (st.st_size, st.st_mtime_ns)
        return self._signatures[path]

    def row_of(self, path: str) -> int:
        entry = self.entries.get(path)
        return -1 if entry is None else entry[2]

    # -- writing -----------------------------------------------------------------------------
    def decode(
        self,
        paths: list[str],
        batch: Batch,
        *,
        workers: int,
        progress: Progress | None,
        should_stop: ShouldStop | None,
        failures: dict[str, str],
    ) -> bool:
        """Decode `paths` into new rows; returns True when stopped before the end."""
        for path in paths:
            self.entries.pop(path, None)  # changed since decoded: the old row is stale
        self._reserve(len(paths))
        assert self.file is not None
        _allocated(self.folder / self.file)  # a file made sparse by an older version gets its blocks
        rows = np.lib.format.open_memmap(self.folder / self.file, mode="r+")
        # paths[i] goes to row first + i whatever order the workers finish in, so a first load comes
        # back in the requested order and can be returned as a view of the store. Rows of files that
        # fail (or are not reached before a stop) stay unused until the store is next compacted.
        first = self.used
        self.used += len(paths)
        last_save = time.monotonic()
        decoded = 0
        try:
            for start, results in map_chunks(
                batch, paths, workers=workers, progress=progress, should_stop=should_stop
            ):
                for i, result in enumerate(results, start):
                    path = paths[i]
                    if isinstance(result, str):
                        failures[path] = result
                        continue
                    rows[first + i] = result
                    size, mtime_ns = self._signatures[path]
                    self.entries[path] = [size, mtime_ns, first + i]
                    decoded += 1
                if time.monotonic() - last_save > MANIFEST_SAVE_INTERVAL_S:
                    rows.flush()
                    self._save_manifest()
                    last_save = time.monotonic()
        finally:
            # Also on errors and stops: rows already written are flushed, then named by the manifest.
            rows.flush()
            del rows
            self._save_manifest()
        attempted = decoded + sum(1 for p in paths if p in failures)
        return attempted < len(paths)

    def _reserve(self, extra: int) -> None:
        """Make room for `extra` new rows, moving live rows to a bigger file when needed."""
        capacity = 0
        if self.file is not None:
            capacity = np.load(self.folder / self.file, mmap_mode="r").shape[0]
        if self.used + extra <= capacity:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        # Entries of removed files are dropped here, with the stale rows of changed ones.
        self.entries = {p: e for p, e in self.entries.items() if os.path.exists(p)}
        live = sorted(self.entries.values(), key=lambda e: e[2])
        new_capacity = max(64, int((len(live) + extra) * 1.5))
        # A number never used in this folder: an old file may survive (Windows keeps mapped files).
        taken = [int(p.name[5:11]) for p in self.folder.glob("rows-??????.npy*") if p.name[5:11].isdigit()]
        generation = max(taken, default=0) + 1
        new_file = f"rows-{generation:06d}.npy"
        tmp = self.folder / (new_file + ".tmp")
        try:
            _create_rows_file(tmp, (new_capacity, *self.shape))
            target = np.lib.format.open_memmap(tmp, mode="r+")
            if live and self.file is not None:
                old = np.load(self.folder / self.file, mmap_mode="r")
                old_rows = np.array([e[2] for e in live])
                for i in range(0, len(live), GATHER_ROWS):
                    part = old_rows[i : i + GATHER_ROWS]
                    target[i : i + len(part)] = old[part]
                del old
            target.flush()
            del target
            os.replace(tmp, self.folder / new_file)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        for new_row, entry in enumerate(live):
            entry[2] = new_row
        old_file, self.file, self.used = self.file, new_file, len(live)
        self._save_manifest()
        if old_file is not None:
            with contextlib.suppress(OSError):  # still mapped by an earlier array (Windows)
                (self.folder / old_file).unlink()

    def _save_manifest(self) -> None:
        manifest = {
            "schema_version": 1,
            "decoder": DECODER_ID,
            "shape": list(self.shape),
            "file": self.file,
            "used": self.used,
            "entries": self.entries,
        }
        tmp = self.manifest_path.with_suffix(".json.tmp")
        text = json.dumps(manifest)
        try:
            with words_for_full_disk(self.folder, len(text), WHAT):
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, self.manifest_path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    # -- output ------------------------------------------------------------------------------
    def gather(self, rows: list[int]) -> np.ndarray:
        n = len(rows)
        if n == 0 or self.file is None:
            return np.zeros((n, *self.shape), dtype=np.uint8)
        data = np.load(self.folder / self.file, mmap_mode="c")  # writable for callers, never written back
        first = rows[0]
        if first >= 0 and rows == list(range(first, first + n)):
            return data[first : first + n]
        out = np.zeros((n, *self.shape), dtype=np.uint8)
        index = np.asarray(rows)
        for i in range(0, n, GATHER_ROWS):
            part = index[i : i + GATHER_ROWS]
            good = np.nonzero(part >= 0)[0]
            out[i + good] = data[part[good]]
        return out


def _create_rows_file(path: Path, shape: tuple[int, ...]) -> None:
    """A .npy file of uint8 zeros of `shape` with every block allocated, after checking the free
    space (raises NoSpaceError in words; the caller removes the file)."""
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
        "fortran_order": False,
        "shape": shape,
    }
    size = int(np.prod(shape))
    check_free_space(path.parent, size + 4096, WHAT)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.flush()
        allocate(f.fileno(), f.tell() + size, path.parent, WHAT)


def _allocated(path: Path) -> None:
    with open(path, "r+b") as f:
        allocate(f.fileno(), os.fstat(f.fileno()).st_size, path.parent, WHAT)
