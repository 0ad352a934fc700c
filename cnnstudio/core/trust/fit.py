"""Fit a run's calibration: the temperature on the validation pictures, the unknown score on a bank of
training pictures and its threshold on the validation pictures.

Bounded cost for any design (benchmarks/bench_calibration_cost.py): only up to BANK_SIZE training
pictures go through the model (the bank), the features are reduced to at most 256 numbers per
picture as each batch comes out, the feature maps to at most 256 statistics (core.trust.outputs),
and what is stored is at most two 256 x 256 matrices (0.5 MB; a kNN bank: 512 x 256, 0.5 MB).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from cnnstudio.core.errors import UserError
from cnnstudio.core.trust.outputs import MAX_DIM, feature_width, model_outputs, reduction, softmax
from cnnstudio.core.trust.store import Calibration
from cnnstudio.core.trust.temperature import (
    DEFAULT_RULE,
    calibration_bins,
    choose_temperature,
    expected_calibration_error,
)
from cnnstudio.core.trust.unknown import BANK_SIZE, DEFAULT_METHOD, PASS_RATE, fit_unknown

NOT_NUMBERS = "The model's outputs are not numbers; it cannot be calibrated. Train again."


def bank_rows(n: int, size: int = BANK_SIZE, *, seed: int = 0) -> np.ndarray:
    """Which of n training pictures form the bank: all of them, or `size` drawn at random (sorted,
    so a memory-mapped cache is read forwards)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def fit_trust(
    model: nn.Module,
    preprocessing: Any,
    X_train: np.ndarray | torch.Tensor,
    y_train: np.ndarray | None,
    X_val: np.ndarray | torch.Tensor,
    y_val: np.ndarray,
    *,
    method: str = DEFAULT_METHOD,
    temperature_rule: str = DEFAULT_RULE,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    pass_rate: float = PASS_RATE,
    bank_size: int = BANK_SIZE,
) -> Calibration:
    """A fitted Calibration. ``y_train`` groups the bank for Mahalanobis (the model's own predictions
    when None); ``bank_size``: how many training pictures fit the unknown score, at most."""
    y_val = np.asarray(y_val, dtype=np.int64)
    if len(X_train) == 0:
        raise UserError("There are no training pictures to calibrate with.")
    rows = bank_rows(len(X_train), bank_size)
    X_bank = X_train if len(rows) == len(X_train) else X_train[rows]
    bank_labels = None if y_train is None else np.asarray(y_train, dtype=np.int64)[rows]
    bank_logits, bank_features = model_outputs(
        model, X_bank, preprocessing, batch_size=batch_size, device=device
    )
    if not np.isfinite(bank_logits).all() or not np.isfinite(bank_features).all():
        raise UserError(NOT_NUMBERS)
    in_width = feature_width(model) or bank_logits.shape[1]
    block, _width = reduction(in_width, MAX_DIM)
    cal = Calibration(fitted=True, pass_rate=pass_rate, temperature_rule=temperature_rule)
    features = scaled_logits = None  # no validation pictures: the bank sets the threshold
    if len(y_val):
        logits, features = model_outputs(model, X_val, preprocessing, batch_size=batch_size, device=device)
        if not np.isfinite(logits).all() or not np.isfinite(features).all():
            raise UserError(NOT_NUMBERS)
        cal.temperature, cal.note = choose_temperature(logits, y_val, temperature_rule)
        before, after = softmax(logits), softmax(logits, cal.temperature)
        cal.bins_before, cal.bins_after = calibration_bins(before, y_val), calibration_bins(after, y_val)
        cal.ece_before = expected_calibration_error(before, y_val)
        cal.ece_after = expected_calibration_error(after, y_val)
        cal.val_count = len(y_val)
        scaled_logits = logits / cal.temperature
    cal.unknown, cal.threshold = fit_unknown(
        bank_features,
        features,
        scaled_logits,
        in_width=in_width,
        block=block,
        method=method,
        bank_labels=bank_labels,
        train_logits=bank_logits,
        pass_rate=pass_rate,
    )
    return cal
