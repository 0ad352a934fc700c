"""The Predict section of the main window (see cnnstudio/gui/sections.py)."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from cnnstudio.gui.predict.serve_panel import add_serve_button
from cnnstudio.gui.predict.view import PredictPanel
from cnnstudio.gui.session import ProjectSession


class PredictSection(PredictPanel):
    """The widget the main window mounts for Predict: the predictions table, sorting into folders
    and export (view.py), with "Use from other programs…" (serve_panel.py) beside "Open a model file…"."""

    def __init__(self, session: ProjectSession, parent: QWidget | None = None):
        super().__init__(session, parent)
        add_serve_button(self)  # sets self.serve_button


def create_section(session: ProjectSession) -> PredictSection:
    return PredictSection(session)
