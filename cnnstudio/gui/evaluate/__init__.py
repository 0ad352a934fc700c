"""The Evaluate section: what a trained model gets right and wrong, and why.

A run and a set of pictures (validation, test, training, or another folder) give an
`EvaluationReport` (core.evaluate); this package only draws it: the metrics with one-line
explanations, the confusion matrix (click a cell for its pictures), the worst mistakes, likely label
errors with one-click fixes (undoable, through the session's label commands), a panel for one picture
with its probabilities and a Grad-CAM overlay, and an HTML report.

`EvaluateSection` (section.py) is the widget the window mounts, the panel of view.py
(`EvaluationPanel`) whose job control is controller.py; `python -m cnnstudio.gui.evaluate` previews it.
"""
