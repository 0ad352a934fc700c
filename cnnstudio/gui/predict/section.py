"""The Predict section of the main window (see cnnstudio/gui/sections.py)."""

from __future__ import annotations

from cnnstudio.gui.predict.serve_panel import add_serve_button
from cnnstudio.gui.predict.view import PredictSection
from cnnstudio.gui.session import ProjectSession


def create_section(session: ProjectSession) -> PredictSection:
    section = PredictSection(session)
    add_serve_button(section)  # "Use from other programs…" (serve_panel.py)
    return section
