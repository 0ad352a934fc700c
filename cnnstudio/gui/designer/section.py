"""The Model section of the main window (see cnnstudio/gui/sections.py)."""

from __future__ import annotations

from cnnstudio.gui.designer.view import ModelDesigner
from cnnstudio.gui.session import ProjectSession


def create_section(session: ProjectSession) -> ModelDesigner:
    return ModelDesigner(session)
