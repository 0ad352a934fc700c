"""The one core call for calibrated predictions: probabilities, unknown scores and flags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnstudio.core.trust.outputs import log_softmax, model_outputs
from cnnstudio.core.trust.store import Calibration
from cnnstudio.core.trust.verdict import unknown_flags


@dataclass
class CalibratedOutput:
    """Calibrated probabilities (N, K); unknown_scores / unknown (N,) or None when not calibrated."""

    probs: np.ndarray
    log_probs: np.ndarray
    unknown_scores: np.ndarray | None
    unknown: np.ndarray | None
    threshold: float | None
    logits: np.ndarray | None = None  # the model's own, before the temperature


def predict_calibrated(
    model: nn.Module,
    X_uint8: np.ndarray | torch.Tensor,
    preprocessing: Any,
    calibration: Calibration | None,
    *,
    threshold: float | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> CalibratedOutput:
    """``threshold`` overrides the calibration's unknown threshold (a user's slider)."""
    calibration = calibration or Calibration()
    logits, features = model_outputs(model, X_uint8, preprocessing, batch_size=batch_size, device=device)
    probs = calibration.probabilities(logits)
    log_probs = log_softmax(logits, calibration.temperature)
    scores = calibration.unknown_scores(features, logits)
    limit = calibration.threshold if threshold is None else float(threshold)
    limit = limit if scores is not None else None
    return CalibratedOutput(probs, log_probs, scores, unknown_flags(scores, limit), limit, logits)
