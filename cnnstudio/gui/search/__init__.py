"""The Search section: a hyperparameter search over the project's design (panel.py), and runs
compared side by side (cnnstudio.gui.compare)."""
