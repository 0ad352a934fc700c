"""The Model section of the main window (see cnnstudio/gui/sections.py): the layer designer."""

from __future__ import annotations

from cnnstudio.gui.model.view import ModelDesigner
from cnnstudio.gui.session import ProjectSession


class ModelSection(ModelDesigner):
    """The widget the main window mounts for Model: palette, layer cards, settings and summary
    (view.py); its background work (the epoch-time measure, the weights check) stays in view.py."""


def create_section(session: ProjectSession) -> ModelSection:
    return ModelSection(session)
