"""The Search section: a hyperparameter search over the project's design (panel.py, its job control
controller.py), and runs compared side by side (compare/, the "Compare runs" tab).

`SearchSection` (section.py) is the widget the window mounts: a tab for each; `python -m
cnnstudio.gui.search` previews it, `python -m cnnstudio.gui.search.compare` the comparison alone.
"""
