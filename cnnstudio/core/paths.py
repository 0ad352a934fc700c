"""Where CNN Studio keeps its own files (never inside the user's image folders)."""

from __future__ import annotations

import os
from pathlib import Path


def user_data_dir() -> Path:
    """The per-user data folder: demo data, projects made without a chosen folder.

    `CNNSTUDIO_DATA_DIR` overrides it (tests and portable installs use this).
    """
    override = os.environ.get("CNNSTUDIO_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("CNNStudio", appauthor=False))
