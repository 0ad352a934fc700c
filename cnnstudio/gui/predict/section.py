"""The Predict section of the main window (see cnnstudio/gui/sections.py)."""

from __future__ import annotations

from cnnstudio.gui.predict.view import PredictSection
from cnnstudio.gui.session import ProjectSession


def create_section(session: ProjectSession) -> PredictSection:
    return PredictSection(session)
