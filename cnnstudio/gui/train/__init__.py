"""The Train section: settings, live curves, the coach and the run history over core.train.

`TrainSection` (section.py) is the widget the window mounts, the panel of panel.py (`TrainingPanel`)
whose job control is controller.py; `python -m cnnstudio.gui.train` previews it alone on the demo project.
"""
