"""Show a file in the system's file manager: the "Show in folder" of every section and dialog."""

from __future__ import annotations

import os

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices


def show_in_folder(path: str) -> bool:
    """Open the folder holding `path` in the file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path)))
