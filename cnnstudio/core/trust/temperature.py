"""Temperature scaling (Guo et al. 2017) and the calibration error, with a rule for few labels.

One number T per run: probabilities are softmax(logits / T); the weights and the best class never
change. T is fitted with LBFGS on log T to minimise the negative log-likelihood (NLL) of the
validation pictures. With few validation pictures the fitted T can be far off (issue 22: 0.49 on 60
pictures), so the default rule, "checked", keeps T only when it also helps pictures it was not fitted
on: the validation pictures are split in two halves, T is fitted on each half and each picture is
scored with the T of the other half, and T stays 1 unless the held-out NLL is lower with the fitted T
than with T = 1 by more than one standard error of that difference. Rules, measured in benchmarks/bench_trust.py: "checked" (the default), "val" (fit on all
validation pictures, no check), "one" (T = 1).

Expected calibration error (ECE): 15 equal-width confidence bins, sum over bins of
(share of pictures) * |accuracy - mean confidence|.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

ECE_BINS = 15
TEMPERATURE_RANGE = (0.2, 20.0)
# Fewer validation pictures than this, or none wrong, say nothing reliable about over-confidence
# (with no mistakes the likelihood always prefers a smaller temperature): the temperature stays 1.
MIN_CALIBRATION_PICTURES = 30
# Below this many validation pictures Evaluate says that the calibration is a rough guide.
FEW_CALIBRATION_PICTURES = 200
RULES = ("checked", "val", "one")
DEFAULT_RULE = "checked"


def fit_temperature(logits: np.ndarray, y: np.ndarray, *, max_iter: int = 100) -> float:
    """The temperature T > 0 that minimises the NLL of softmax(logits / T) on labels y (LBFGS on log T)."""
    logits_t = torch.as_tensor(np.asarray(logits, dtype=np.float32)).double()
    y_t = torch.as_tensor(np.asarray(y, dtype=np.int64))
    if len(y_t) == 0:
        return 1.0
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")
    loss_fn = nn.CrossEntropyLoss()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(logits_t / log_t.exp(), y_t)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    temperature = float(log_t.detach().exp().clamp(*TEMPERATURE_RANGE))
    return temperature if np.isfinite(temperature) else 1.0


def picture_nll(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Each picture's negative log-likelihood of its label under softmax(logits / T), in float64."""
    t = torch.as_tensor(np.asarray(logits, dtype=np.float64)) / float(temperature)
    y_t = torch.as_tensor(np.asarray(y, dtype=np.int64))
    return nn.functional.cross_entropy(t, y_t, reduction="none").numpy()


def held_out_gain(logits: np.ndarray, y: np.ndarray, *, seed: int = 0) -> tuple[float, float]:
    """(mean, standard error) over pictures of NLL at T = 1 minus NLL at a fitted T, each picture
    scored with the T fitted on the other half of the pictures. Clearly positive: fitting the
    temperature helps pictures it was not fitted on."""
    n = len(y)
    order = np.random.default_rng(seed).permutation(n)
    halves = (order[: n // 2], order[n // 2 :])
    gains = np.zeros(n)
    for fit_on, score_on in (halves, halves[::-1]):
        t = fit_temperature(logits[fit_on], y[fit_on])
        gains[score_on] = picture_nll(logits[score_on], y[score_on]) - picture_nll(
            logits[score_on], y[score_on], t
        )
    return float(gains.mean()), float(gains.std(ddof=1) / np.sqrt(max(1, n)))


def choose_temperature(logits: np.ndarray, y: np.ndarray, rule: str = DEFAULT_RULE) -> tuple[float, str]:
    """(T, note): the temperature the rule gives for validation logits and labels, and, when T was
    kept at 1, why, in plain words ("" when T was fitted)."""
    if rule not in RULES:
        raise ValueError(f"unknown temperature rule {rule!r}; one of {', '.join(RULES)}")
    y = np.asarray(y, dtype=np.int64)
    logits = np.asarray(logits, dtype=np.float32)
    if rule == "one":
        return 1.0, "temperature kept at 1 (not calibrated by choice)"
    if len(y) < MIN_CALIBRATION_PICTURES:
        return 1.0, (
            f"temperature kept at 1: {len(y)} validation pictures are too few to calibrate "
            f"(at least {MIN_CALIBRATION_PICTURES} are needed)"
        )
    if int((logits.argmax(axis=1) != y).sum()) == 0:
        return 1.0, (
            "temperature kept at 1: the model got every validation picture right, so they say "
            "nothing about how over-confident it is"
        )
    gain, error = held_out_gain(logits, y) if rule == "checked" else (1.0, 0.0)
    if gain <= error:
        return 1.0, (
            "temperature kept at 1: a temperature fitted on half of the validation pictures did not "
            "make the other half's confidences more honest"
        )
    return fit_temperature(logits, y), ""


def calibration_bins(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> list[dict[str, Any]]:
    """Equal-width confidence bins: lower, upper, count, confidence (mean), accuracy (None when empty)."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    confidence = probs.max(axis=1) if len(probs) else np.zeros(0)
    correct = (probs.argmax(axis=1) == y) if len(probs) else np.zeros(0, bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin b holds confidences in (edges[b], edges[b+1]]; a confidence of exactly 0 goes in the first.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        n = int(mask.sum())
        out.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": n,
                "confidence": float(confidence[mask].mean()) if n else None,
                "accuracy": float(correct[mask].mean()) if n else None,
            }
        )
    return out


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: sum over equal-width bins of (share of pictures) * |accuracy - mean confidence|."""
    table = calibration_bins(probs, y, bins)
    total = sum(b["count"] for b in table)
    if total == 0:
        return 0.0
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"]) for b in table if b["count"]))
