"""The Data section of the main window (see cnnstudio/gui/sections.py): the dataset browser."""

from __future__ import annotations

from cnnstudio.gui.data.browser import DatasetBrowser
from cnnstudio.gui.session import ProjectSession


class DataSection(DatasetBrowser):
    """The widget the main window mounts for Data: classes, thumbnails, problems and labelling
    (browser.py); model-assisted labelling runs its jobs from suggestions.py."""


def create_section(session: ProjectSession) -> DataSection:
    return DataSection(session)
