"""Default file names made from names people type (a project's name may hold ':' or '/')."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f]+')


def file_name_part(text: str, fallback: str = "model") -> str:
    """`text` usable in a file name on Windows, macOS and Linux: no : / \\ ? * < > | " or control
    characters (each run becomes one space), no leading or trailing spaces or dots."""
    cleaned = re.sub(r"\s+", " ", _UNSAFE.sub(" ", text)).strip(" .")
    return cleaned or fallback
