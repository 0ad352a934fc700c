"""The Train section of the main window (see cnnstudio/gui/sections.py)."""

from __future__ import annotations

from cnnstudio.gui.session import ProjectSession
from cnnstudio.gui.train.panel import TrainingPanel


class TrainSection(TrainingPanel):
    """The widget the main window mounts for Train: settings, curves, coach and run history
    (panel.py); its job control is `jobs`, the TrainingController of controller.py."""


def create_section(session: ProjectSession) -> TrainSection:
    return TrainSection(session)
