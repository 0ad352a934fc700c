"""Evaluate a classifier: predictions, metrics, confusion matrix, top losses, label issues, Grad-CAM.

The names below are imported on first use (PEP 562), as in core.dataset: reopening a saved
evaluation (EvaluationReport.load) needs numpy and scikit-learn, not torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnstudio.core.lazy import lazy_exports

if TYPE_CHECKING:
    from cnnstudio.core.evaluate.explanations import METRIC_EXPLANATIONS
    from cnnstudio.core.evaluate.inference import evaluate_model, predict_probabilities
    from cnnstudio.core.evaluate.label_issues import find_label_issues
    from cnnstudio.core.evaluate.report import EvaluationReport
    from cnnstudio.core.evaluate.saliency import GradCamError, grad_cam, heat_colors, overlay_heatmap

    metric_explanations = METRIC_EXPLANATIONS

_HOMES = {
    "evaluate_model": ("inference", "evaluate_model"),
    "predict_probabilities": ("inference", "predict_probabilities"),
    "find_label_issues": ("label_issues", "find_label_issues"),
    "METRIC_EXPLANATIONS": ("explanations", "METRIC_EXPLANATIONS"),
    "metric_explanations": ("explanations", "METRIC_EXPLANATIONS"),
    "EvaluationReport": ("report", "EvaluationReport"),
    "GradCamError": ("saliency", "GradCamError"),
    "grad_cam": ("saliency", "grad_cam"),
    "heat_colors": ("saliency", "heat_colors"),
    "overlay_heatmap": ("saliency", "overlay_heatmap"),
}

__all__ = [
    "METRIC_EXPLANATIONS",
    "EvaluationReport",
    "GradCamError",
    "evaluate_model",
    "find_label_issues",
    "grad_cam",
    "heat_colors",
    "metric_explanations",
    "overlay_heatmap",
    "predict_probabilities",
]

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
