"""Evaluate a classifier: predictions, metrics, confusion matrix, top losses, label issues, Grad-CAM."""

from cnnstudio.core.evaluate.inference import evaluate_model, predict_probabilities
from cnnstudio.core.evaluate.label_issues import find_label_issues
from cnnstudio.core.evaluate.metrics import METRIC_EXPLANATIONS
from cnnstudio.core.evaluate.report import EvaluationReport
from cnnstudio.core.evaluate.saliency import GradCamError, grad_cam, heat_colors, overlay_heatmap

metric_explanations = METRIC_EXPLANATIONS

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
