"""Stand-in for cnnstudio.core.trust until it lands on main (same calls, same outputs). Deleted then.

Features are the penultimate features averaged in <= 256 groups; the temperature rules and the
knn+msp combination are plain guesses of what the core will do, only so the benchmark runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cnnstudio.core.evaluate import calibration as cal

MAX_DIMS = 256


def model_outputs(model, X_u8, prep):
    logits, feats = cal.model_outputs(model, X_u8, prep)
    d = feats.shape[1]
    if d > MAX_DIMS:
        groups = np.array_split(np.arange(d), MAX_DIMS)
        feats = np.stack([feats[:, g].mean(1) for g in groups], 1)
    return logits, feats.astype(np.float32)


def _nll(logits, y, t):
    return float(-cal.log_softmax(logits, t)[np.arange(len(y)), y].mean())


def _knn(feats, bank, k=10):
    f = torch.as_tensor(cal.normalize_rows(feats))
    kth = (f @ torch.as_tensor(bank).T).topk(min(k, len(bank)), dim=1).values[:, -1]
    return torch.sqrt(torch.clamp(2 - 2 * kth, min=0)).numpy()


@dataclass
class Trust:
    temperature: float
    bank: np.ndarray
    method: str
    val_knn: np.ndarray
    val_msp: np.ndarray
    threshold: float = 0.0


@dataclass
class Out:
    probs: np.ndarray
    unknown_scores: np.ndarray
    unknown: np.ndarray
    threshold: float


def _scores(trust: Trust, logits, feats):
    knn = _knn(feats, trust.bank)
    msp = 1 - cal.softmax(logits, trust.temperature).max(1)
    if trust.method == "knn":
        return knn
    if trust.method == "msp":
        return msp
    rank = lambda ref, s: np.searchsorted(np.sort(ref), s) / len(ref)  # noqa: E731
    return np.maximum(rank(trust.val_knn, knn), rank(trust.val_msp, msp))


def fit_trust(model, prep, X_train, y_train, X_val, y_val, method="knn+msp", temperature_rule="checked"):
    _, f_tr = model_outputs(model, X_train, prep)
    logits, f_va = model_outputs(model, X_val, prep)
    t = 1.0
    if temperature_rule != "one":
        t = cal.fit_temperature(logits, y_val)
    if temperature_rule == "checked":
        half = np.arange(len(y_val)) % 2 == 0
        gain = 0.0
        for a, b in ((half, ~half), (~half, half)):
            ta = cal.fit_temperature(logits[a], y_val[a])
            gain += _nll(logits[b], y_val[b], 1.0) - _nll(logits[b], y_val[b], ta)
        t = t if gain > 0 else 1.0
    bank = cal.normalize_rows(f_tr[:5000])
    trust = Trust(t, bank, method, _knn(f_va, bank), 1 - cal.softmax(logits, t).max(1))
    trust.threshold = float(np.quantile(_scores(trust, logits, f_va), 0.95))
    return trust


def predict_calibrated(model, X_u8, prep, trust: Trust) -> Out:
    logits, feats = model_outputs(model, X_u8, prep)
    s = _scores(trust, logits, feats)
    return Out(cal.softmax(logits, trust.temperature), s, s > trust.threshold, trust.threshold)
