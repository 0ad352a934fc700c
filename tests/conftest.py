"""Shared fixtures: tiny real image folders written with Pillow (STYLE.md point 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from image_fixtures import write_tiny_image_folder


@pytest.fixture
def tiny_image_folder(tmp_path: Path):
    """A factory: tiny_image_folder(classes=3, per_class=6, size=32) -> Path of a class-folder dataset."""

    def make(classes: int = 3, per_class: int = 6, size: int = 32, seed: int = 0, name: str = "data") -> Path:
        return write_tiny_image_folder(tmp_path / name, classes, per_class, size, seed)

    return make


@pytest.fixture(autouse=True, scope="session")
def _private_data_dir(tmp_path_factory):
    """Tests never write into the real user data folder (demo data, default projects go here)."""
    import os

    folder = tmp_path_factory.mktemp("userdata")
    old = os.environ.get("CNNSTUDIO_DATA_DIR")
    os.environ["CNNSTUDIO_DATA_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("CNNSTUDIO_DATA_DIR", None)
    else:
        os.environ["CNNSTUDIO_DATA_DIR"] = old
