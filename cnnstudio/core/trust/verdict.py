"""One verdict for one picture: its label, confidence, best classes, and whether it is unknown.

Every place that turns probabilities and an unknown score into what a user reads calls this: the
predictor (CLI, GUI, prediction service), the evaluation report and the GUI's Predict table (which
re-applies the thresholds while a slider moves). The standalone predict_example.py keeps its own copy
on purpose (it needs only numpy); tests/core/test_export_example.py keeps the two equal. No torch
here: the GUI imports it.

Two different things, two names: a picture whose top probability is below the confidence threshold
gets the label LOW_CONFIDENCE_LABEL ("unknown", as `predict --threshold` always wrote); a picture whose
unknown score is above the unknown threshold is *flagged* unknown (unlike the training pictures) and
keeps its best class as its label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LOW_CONFIDENCE_LABEL = "unknown"
TOP_K = 3


def is_unknown(score: float | None, threshold: float | None) -> bool | None:
    """Flagged as unlike the training pictures: score above threshold (None when either is missing)."""
    if score is None or threshold is None:
        return None
    return bool(score > threshold)


def unknown_flags(scores: np.ndarray | None, threshold: float | None) -> np.ndarray | None:
    """is_unknown for many scores at once."""
    if scores is None or threshold is None:
        return None
    return np.asarray(scores) > threshold


@dataclass(frozen=True)
class Verdict:
    label: str  # the best class, or LOW_CONFIDENCE_LABEL below the confidence threshold
    confidence: float  # the best class's calibrated probability
    top: list[tuple[str, float]]  # the TOP_K best classes, best first (ties: the earlier class)
    unknown: bool | None  # flagged unlike the training pictures; None: the model has no unknown score
    unknown_score: float | None


def verdict(
    probs: Sequence[float] | np.ndarray,
    class_names: Sequence[str],
    *,
    min_confidence: float = 0.0,
    unknown_score: float | None = None,
    unknown_threshold: float | None = None,
) -> Verdict:
    probs = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-probs, kind="stable")[:TOP_K]
    top = [(class_names[i], float(probs[i])) for i in order]
    confidence = top[0][1]
    label = top[0][0] if confidence >= min_confidence else LOW_CONFIDENCE_LABEL
    score = None if unknown_score is None else float(unknown_score)
    return Verdict(label, confidence, top, is_unknown(score, unknown_threshold), score)
