"""The Predict section: what a trained model says about new pictures (a table, a CSV, class folders).

`PredictSection` (section.py) is the widget the window mounts: the panel of view.py (`PredictPanel`)
with serve_panel.py's "Use from other programs…"; `python -m cnnstudio.gui.predict` previews it.
"""
