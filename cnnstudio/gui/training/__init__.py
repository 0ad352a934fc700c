"""The Train section: settings, live curves, the coach and the run history over core.train.

`TrainingPanel` (panel.py) is the section's widget; `create_section(session)` (section.py) plugs it
into the main window; `python -m cnnstudio.gui.training` previews it alone on the demo project.
"""
