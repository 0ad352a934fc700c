"""The Evaluate section of the main window (see cnnstudio/gui/sections.py)."""

from __future__ import annotations

from cnnstudio.gui.evaluation.view import EvaluationSection
from cnnstudio.gui.session import ProjectSession


def create_section(session: ProjectSession) -> EvaluationSection:
    return EvaluationSection(session)
