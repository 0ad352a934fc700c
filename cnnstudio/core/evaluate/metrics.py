"""Classification metrics computed from labels and predictions, with plain-words explanations."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from cnnstudio.core.evaluate.explanations import METRIC_EXPLANATIONS  # noqa: F401 (re-exported)


def per_class_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, class_names: list[str]
) -> tuple[list[dict], dict[str, float], dict[str, float]]:
    """Precision, recall, F1 and support per class, and their macro and weighted averages.

    Every class in range(num_classes) is listed, also one absent from both y_true and y_pred; a
    ratio with nothing to divide by counts as 0 (scikit-learn's zero_division=0).
    """
    labels = list(range(num_classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    per_class = [
        {
            "class": class_names[k],
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "support": int(support[k]),
        }
        for k in labels
    ]
    averages = {}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        averages[average] = {"precision": float(p), "recall": float(r), "f1": float(f)}
    return per_class, averages["macro"], averages["weighted"]


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts: row = true class, column = predicted class."""
    return confusion_matrix(y_true, y_pred, labels=list(range(num_classes))).astype(np.int64)


def normalize_rows(confusion: np.ndarray) -> np.ndarray:
    """Each row divided by its sum, so a row reads 'of the real cats, this share went to each class'.

    Rows of classes with no pictures stay all zero rather than 0/0.
    """
    counts = confusion.astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of correct predictions; 0.0 when there is nothing to count."""
    if len(y_true) == 0:
        return 0.0
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
