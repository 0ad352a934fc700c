"""The Train section of the main window (see cnnstudio/gui/sections.py)."""

from __future__ import annotations

from cnnstudio.gui.session import ProjectSession
from cnnstudio.gui.training.panel import TrainingPanel


def create_section(session: ProjectSession) -> TrainingPanel:
    return TrainingPanel(session)
