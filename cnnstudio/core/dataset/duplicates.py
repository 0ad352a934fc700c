"""Exact duplicate files, found by content: sizes first (cheap), then a hash of same-size files only."""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Iterable

from cnnstudio.core.dataset.parallel import default_workers, map_chunks


def duplicate_groups(paths: Iterable[str], *, workers: int | None = None) -> list[list[str]]:
    """Groups (two or more paths each, sorted) of files with identical bytes; groups sorted by first path."""
    by_size: dict[int, list[str]] = defaultdict(list)
    for path in paths:
        try:
            by_size[os.stat(path).st_size].append(path)
        except OSError:
            continue
    candidates = [p for group in by_size.values() if len(group) > 1 for p in group]
    if not candidates:
        return []
    by_hash: dict[bytes, list[str]] = defaultdict(list)
    workers = workers or default_workers()
    for start, digests in map_chunks(_digests, candidates, workers=min(workers, 4)):
        for path, digest in zip(candidates[start : start + len(digests)], digests, strict=True):
            if digest is not None:
                by_hash[digest].append(path)
    return sorted((sorted(g) for g in by_hash.values() if len(g) > 1), key=lambda g: g[0])


def _digests(paths: list[str]) -> list[bytes | None]:
    # hashlib and file reads release the GIL, so threads help here.
    out: list[bytes | None] = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                out.append(hashlib.file_digest(f, "blake2b").digest())
        except OSError:
            out.append(None)
    return out
