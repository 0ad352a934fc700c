"""Likely label errors, by the per-class thresholds of confident learning (a simplified rule).

Reference for the thresholds: Northcutt, Jiang and Chuang, "Confident Learning: Estimating
Uncertainty in Dataset Labels", JAIR 70 (2021), https://arxiv.org/abs/1911.00068.

What is implemented is exactly the rule below, in NumPy; it is not cleanlab's ``find_label_issues``
(cleanlab is not used). It does not build or calibrate the confident joint, and it does not prune a
number of issues per class estimated from noise rates (cleanlab's default, "prune_by_noise_rate").
It is closest to cleanlab's ``filter_by="confident_learning"`` (off-diagonal entries of the
confident joint) with one more condition, p_i[y] < t_y, and ranking by self-confidence:

For each class j the threshold t_j is the mean probability the model gives class j over the pictures
labelled j: how confident the model usually is about that class. Picture i with label y is flagged
when p_i[y] < t_y (the model doubts its label more than usual) and some other class k has
p_i[k] >= t_k (the model is as confident about k as it usually is about real k's). Flagged pictures
are ranked by self-confidence p_i[y], lowest first. Per-class thresholds keep classes the model is
generally less sure about from being flagged wholesale.

The probabilities should come from a model that did not train on these pictures (a held-out split,
or cross-validation). With in-sample predictions the model has partly memorised the given labels,
so fewer errors are found than exist: the list is optimistic.
"""

from __future__ import annotations

import numpy as np


def class_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """t_j = mean of probs[:, j] over the samples labelled j; +inf for a class with no samples.

    An infinite threshold means "never confidently this class": with no labelled example there is no
    estimate of how confident the model is about it, so it is never suggested.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = probs.shape[1]
    thresholds = np.full(num_classes, np.inf)
    for j in range(num_classes):
        mask = labels == j
        if mask.any():
            thresholds[j] = probs[mask, j].mean()
    return thresholds


def find_label_issues(probs: np.ndarray, labels: np.ndarray) -> list[dict]:
    """Flagged samples, lowest self-confidence first.

    Each item: ``index``, ``label`` (given class index), ``suggested`` (the other class above its
    threshold with the highest probability), ``self_confidence`` p[label] and
    ``suggested_confidence`` p[suggested].
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return []
    thresholds = class_thresholds(probs, labels)
    rows = np.arange(len(labels))
    self_confidence = probs[rows, labels]
    confident_other = probs >= thresholds[None, :]
    confident_other[rows, labels] = False
    flagged = (self_confidence < thresholds[labels]) & confident_other.any(axis=1)
    # Among the confident other classes, suggest the one the model believes most.
    candidates = np.where(confident_other, probs, -np.inf)
    suggested = candidates.argmax(axis=1)
    indices = np.flatnonzero(flagged)
    order = indices[np.argsort(self_confidence[indices], kind="stable")]
    return [
        {
            "index": int(i),
            "label": int(labels[i]),
            "suggested": int(suggested[i]),
            "self_confidence": float(self_confidence[i]),
            "suggested_confidence": float(probs[i, suggested[i]]),
        }
        for i in order
    ]
