"""Which files a prediction covers: the pictures named, and the pictures inside the folders named."""

from __future__ import annotations

import os
from pathlib import Path

from cnnstudio.core.dataset.formats import is_image_name, is_junk_dir, is_junk_file
from cnnstudio.core.dataset.problems import MISSING


def collect_images(inputs: list[Path | str]) -> tuple[list[str], list[tuple[str, str]]]:
    """(picture paths in a stable order, [(path, problem)] for inputs that cannot be used).

    A folder is searched with its sub-folders, in name order, for files with a picture extension
    (hidden files and system leftovers skipped). A file named directly is always tried, whatever its
    extension: the decoder decides. The same file named twice is predicted once.
    """
    paths: list[str] = []
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        key = os.path.normcase(os.path.abspath(path))
        if key not in seen:
            seen.add(key)
            paths.append(path)

    for item in inputs:
        item = Path(item).expanduser()
        if item.is_dir():
            for root, dirs, files in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not is_junk_dir(d))
                for name in sorted(files):
                    if is_image_name(name) and not is_junk_file(name):
                        add(str(Path(root) / name))
        elif item.exists():
            add(str(item))
        else:
            problems.append((str(item), f"{MISSING} (it was moved or deleted, or the name is misspelt)"))
    return paths, problems
