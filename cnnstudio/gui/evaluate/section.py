"""The Evaluate section of the main window (see cnnstudio/gui/sections.py)."""

from __future__ import annotations

from cnnstudio.gui.evaluate.view import EvaluationPanel
from cnnstudio.gui.session import ProjectSession


class EvaluateSection(EvaluationPanel):
    """The widget the main window mounts for Evaluate: metrics, confusion matrix, galleries, one
    picture with Grad-CAM (view.py); its job control is `jobs`, the EvaluationController of
    controller.py."""


def create_section(session: ProjectSession) -> EvaluateSection:
    return EvaluateSection(session)
