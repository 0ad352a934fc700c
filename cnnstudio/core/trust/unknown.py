"""The "unknown" score: how unlike the training pictures a picture is (higher = more unlike).

Chosen by the matrix of benchmarks/bench_trust.py (3 settings, 4 designs, 2 label budgets, seeds, 7
families of other pictures; table in the README), then checked on seeds it was not chosen on.

- "layers" (the default): the larger of two Mahalanobis distances, each divided by its own 95%
  quantile on the validation pictures: the penultimate features' ("mahalanobis" below) and the
  feature maps' (each channel's mean and spread in every feature map, core.trust.outputs.Taps; one
  shared Gaussian, Lee et al.'s feature ensemble made into a maximum). The penultimate features know
  what the classes need; the maps know what the first layers saw (colour, contrast, texture). On 14
  digit cells (8x8 and MNIST digits, seed/tiny/Flatten->Dense, both budgets, 2 seeds) far pictures
  >= 90% flagged with test pictures <= 7% held in 13 ("mahalanobis" alone: 10, kNN 3, max-softmax 0),
  100% of far pictures in each (letters and symbols on real digits: 43% -> 100%). Kept as the arrays
  below and maps_offset, maps_projection, maps_centres.
- "mahalanobis" (Lee et al. 2018; the default before "layers"): the squared distance of the
  picture's penultimate features, reduced to at most 256 numbers (core.trust.outputs), to the nearest class mean of up to
  BANK_SIZE training pictures, with one covariance shared by the classes (shrunk by RIDGE of the mean
  variance). Kept as `offset` m (d,), `projection` L (d, d) with L L^T the inverse covariance, and
  `centres` (K, d) = (class means - m) L: score = min_k |(f - m) L - centre_k|^2, matrix products
  only. The reduction is what makes it affordable for any design: a Flatten->Dense model's 12,544
  features once made an 840 MB calibration; 256 make a 256 x 256 matrix.
- "knn" (Sun et al. 2022): the distance of the L2-normalised reduced features to the k-th nearest of
  a bank of up to BANK_SIZE training pictures' features, k = max(1, round(10 * bank / 2048)) (Sun
  et al.'s k = 10 for a bank of 2,048, in proportion).
- "msp" (Hendrycks & Gimpel 2017): 1 - the calibrated top probability.
- "knn+msp": max(knn / a, msp / b), a and b the 95% quantiles of each on the validation pictures.

The threshold lets at least 95% of pictures like the validation ones pass, with 80% confidence
(pass_threshold: a bound that accounts for how few validation pictures there are). The exports (ONNX, TorchScript, pt2) compute
the score in their graph with UnknownScore.forward itself; the app calls the same module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

METHODS = ("layers", "mahalanobis", "knn+msp", "knn", "msp")
DEFAULT_METHOD = "layers"
# Covariance shrinkage: this share of the features' mean variance is added to the diagonal, so that
# a direction that never varies in training (a unit that is always 0) cannot make the inverse blow up.
RIDGE = 1e-3
# Training pictures that go through the model to fit the score (the bank). Most of calibrating's time
# is their forward pass. 512: on 5,000 real MNIST digits (3,000 training pictures; seed, tiny and
# Flatten->Dense on two seeds, small-vgg on a third), banks of 2,048, 1,024 and 512 flag the same far
# and test pictures within 0.5 points (8x8 digits: 0.8), and the seed design calibrates in 5.4 s
# instead of 11.7 s (README, "What it costs").
BANK_SIZE = 512
KNN_REFERENCE_BANK = 2048  # k = 10 for this many pictures (Sun et al. 2022), in proportion below
PASS_RATE = 0.95
# The threshold is not the plain 95% quantile of the validation pictures' scores: on 60 of them (30
# labels per class) that quantile is the 57th score of 60, and it flagged 7-21% of test pictures in
# the matrix. It is the smallest order statistic that lets >= 95% of such pictures pass with this
# confidence (a one-sided binomial bound, pass_threshold): the 59th of 60, the 194th of 200, the
# 957th of 1,000. Chosen on two seeds of benchmarks/bench_trust.py, checked on a third (README).
PASS_CONFIDENCE = 0.8
# A scale below this (a model sure of nearly every validation picture) would turn float rounding of
# the top probability into a signal: max-softmax is counted from 0.1% up.
MIN_MSP_SCALE = 1e-3
MIN_KNN_SCALE = 1e-6


def k_for_bank(bank_size: int) -> int:
    return max(1, round(10 * bank_size / KNN_REFERENCE_BANK))


def normalize_rows(features: torch.Tensor) -> torch.Tensor:
    return features / torch.clamp(torch.linalg.vector_norm(features, dim=1, keepdim=True), min=1e-12)


def knn_distances(features: torch.Tensor, bank: torch.Tensor, k: int, *, skip: int = 0) -> torch.Tensor:
    """Distance of each normalised row of `features` (N, d) to its k-th nearest row of `bank` (B, d)
    (after skipping the `skip` nearest: 1 when the rows are in the bank themselves).

    The neighbour is found by similarity, but its distance is computed from the difference itself:
    sqrt(2 - 2 * similarity) loses every digit in float32 when the similarity is close to 1, and the
    exports must give the app's numbers."""
    f = normalize_rows(features)
    nearest = torch.topk(f @ bank.T, k + skip, dim=1).indices[:, -1]
    return torch.linalg.vector_norm(f - bank[nearest], dim=1)


def max_softmax(scaled_logits: torch.Tensor) -> torch.Tensor:
    """1 - the top probability of softmax(scaled logits), in float64: in float32, 1 - 0.9999999 is
    mostly rounding, and max-softmax's scale may be as small as MIN_MSP_SCALE."""
    return (1.0 - torch.softmax(scaled_logits.double(), dim=1).max(dim=1).values).float()


MAHALANOBIS_ARRAYS = ("offset", "projection", "centres")
MAPS_ARRAYS = tuple(f"maps_{name}" for name in MAHALANOBIS_ARRAYS)
ARRAY_NAMES = ("bank", *MAHALANOBIS_ARRAYS, *MAPS_ARRAYS)


def mahalanobis_fit(features: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """offset m, projection L (L L^T = the inverse of the shared covariance) and centres (class
    means - m) L of reduced features grouped by their labels (classes without a picture left out)."""
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    present = np.unique(y)
    means = np.stack([f[y == c].mean(axis=0) for c in present])
    centred = f - means[np.searchsorted(present, y)]
    cov = centred.T @ centred / max(1, len(f))
    total = float(np.trace(np.cov(f.T))) if len(f) > 1 else 0.0
    cov += (RIDGE * max(total, float(np.trace(cov))) / max(1, cov.shape[0]) + 1e-12) * np.eye(cov.shape[0])
    values, vectors = np.linalg.eigh(cov)
    projection = vectors / np.sqrt(np.maximum(values, 1e-12))
    offset = f.mean(axis=0)
    return {
        "offset": offset.astype(np.float32),
        "projection": projection.astype(np.float32),
        "centres": ((means - offset) @ projection).astype(np.float32),
    }


def mahalanobis_distances(
    features: torch.Tensor, offset: torch.Tensor, projection: torch.Tensor, centres: torch.Tensor
) -> torch.Tensor:
    # The differences themselves, not |a|^2 - 2ab + |b|^2: that expansion loses all precision in
    # float32 when the projected features are large, and the exports must give the app's scores.
    a = (features.float() - offset) @ projection
    differences = a.unsqueeze(1) - centres.unsqueeze(0)  # (N, K, d)
    return torch.clamp((differences * differences).sum(dim=2).min(dim=1).values, min=0.0)


@dataclass(eq=False)
class UnknownParams:
    """What the score needs, stored with a run: its arrays (ARRAY_NAMES: the kNN bank (B, d) of
    normalised reduced features; Mahalanobis' offset, projection and centres), k, the scales a and b,
    the reduction (block, width) and the features' full width; for "layers", the width of the
    feature maps' part that follows the penultimate one, and the scales a (penultimate) and b (maps)."""

    method: str
    arrays: dict[str, np.ndarray]
    k: int
    knn_scale: float
    msp_scale: float
    block: int
    width: int
    in_width: int
    maps_width: int = 0
    feature_scale: float = 1.0
    maps_scale: float = 1.0

    @property
    def bank(self) -> np.ndarray | None:
        return self.arrays.get("bank")

    def module(self) -> UnknownScore:
        return UnknownScore(self)

    def scores(self, features: np.ndarray, scaled_logits: np.ndarray) -> np.ndarray:
        """Scores of already reduced features (N, width) and logits divided by the temperature (N, K)."""
        f = torch.as_tensor(np.asarray(features, dtype=np.float32))
        z = torch.as_tensor(np.asarray(scaled_logits, dtype=np.float32))
        if len(f) == 0:
            return np.zeros(0, np.float32)
        module = self.module()
        # Mahalanobis holds (rows, classes, width) differences: at most 2**24 numbers (64 MB) at once.
        centres = self.arrays.get("centres")
        step = max(1, 2**24 // max(1, centres.size)) if centres is not None else len(f)
        with torch.inference_mode():
            return torch.cat(
                [module(f[i : i + step], z[i : i + step]) for i in range(0, len(f), step)]
            ).numpy()


class UnknownScore(nn.Module):
    """(reduced features (N, >= width), logits divided by the temperature (N, K)) -> score (N,).

    The features are core.trust.outputs.Taps.features: the reduced penultimate part (`width`), then
    the feature maps' (`maps_width`, used by "layers" only). The app and the exports' graphs both
    compute them with Taps, and the score with this module."""

    def __init__(self, params: UnknownParams) -> None:
        super().__init__()
        self.method = params.method
        self.k = int(params.k)
        self.block, self.width = int(params.block), int(params.width)
        self.maps_width = int(params.maps_width)
        self.knn_scale = float(params.knn_scale)
        self.msp_scale = float(params.msp_scale)
        self.feature_scale = float(params.feature_scale)
        self.maps_scale = float(params.maps_scale)
        for name, array in params.arrays.items():
            self.register_buffer(name, torch.as_tensor(np.asarray(array, dtype=np.float32)).clone())

    def forward(self, features: torch.Tensor, scaled_logits: torch.Tensor) -> torch.Tensor:
        features, maps = features[:, : self.width], features[:, self.width : self.width + self.maps_width]
        if self.method in ("layers", "mahalanobis"):
            score = mahalanobis_distances(features, self.offset, self.projection, self.centres)
            if self.method == "mahalanobis":
                return score
            score = score / self.feature_scale
            if self.maps_width:
                distances = mahalanobis_distances(
                    maps, self.maps_offset, self.maps_projection, self.maps_centres
                )
                score = torch.maximum(score, distances / self.maps_scale)
            return score
        msp = max_softmax(scaled_logits)
        if self.method == "msp":
            return msp
        knn = knn_distances(features.float(), self.bank, self.k)
        if self.method == "knn":
            return knn
        return torch.maximum(knn / self.knn_scale, msp / self.msp_scale)


def pass_threshold(
    scores: np.ndarray, pass_rate: float = PASS_RATE, confidence: float = PASS_CONFIDENCE
) -> float:
    """The smallest of the sorted scores s_k such that, for new pictures like these, P(at least
    `pass_rate` of them score <= s_k) >= `confidence`: k is the least with
    P(Binomial(n, pass_rate) <= k - 1) >= confidence (the largest score when n is too small)."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(ordered)
    if n == 0:
        return float("inf")
    cdf = 0.0
    for k in range(n):
        log_pmf = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        cdf += math.exp(log_pmf + k * math.log(pass_rate) + (n - k) * math.log1p(-pass_rate))
        if cdf >= confidence:
            return float(ordered[k])
    return float(ordered[-1])


def _quantile_scale(scores: np.ndarray, pass_rate: float, floor: float) -> float:
    return max(float(np.quantile(scores, pass_rate)), floor) if len(scores) else 1.0


def fit_unknown(
    bank_features: np.ndarray,
    val_features: np.ndarray | None,
    val_logits: np.ndarray | None,
    *,
    in_width: int,
    block: int,
    method: str = DEFAULT_METHOD,
    bank_labels: np.ndarray | None = None,
    train_logits: np.ndarray | None = None,
    pass_rate: float = PASS_RATE,
) -> tuple[UnknownParams, float]:
    """(UnknownParams, threshold) from reduced features (core.trust.outputs.Taps) of up to BANK_SIZE
    training pictures, and the validation pictures' reduced features and logits divided by the
    temperature. Mahalanobis groups the bank by `bank_labels` (by the model's own predictions when
    not given); the feature maps are one group. Without validation pictures, the bank's own pictures
    set the scales and the threshold (kNN: each skipping itself)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    width = -(-int(in_width) // int(block))  # the penultimate part's reduced width (outputs.reduction)
    bank_features = np.asarray(bank_features, dtype=np.float32)
    maps_width = bank_features.shape[1] - width if method == "layers" else 0
    bank_t = normalize_rows(torch.as_tensor(bank_features[:, :width]))
    k = k_for_bank(len(bank_t))
    if val_features is not None and len(val_features):
        f, z, skip = np.asarray(val_features, dtype=np.float32), val_logits, 0
    else:  # no validation pictures: the bank scores itself, each picture skipping its own row
        f, z, skip = bank_features, train_logits, 1
        k = min(k, max(1, len(bank_t) - 1))
    uses_knn = method in ("knn", "knn+msp")
    with torch.inference_mode():
        knn = (
            knn_distances(torch.as_tensor(f[:, :width]), bank_t, k, skip=skip).numpy()
            if uses_knn and len(bank_t) > skip
            else np.zeros(len(f), np.float32)
        )
        msp = max_softmax(torch.as_tensor(np.asarray(z, dtype=np.float32))).numpy()
    arrays: dict[str, np.ndarray] = {}
    if method in ("layers", "mahalanobis"):
        labels = train_logits.argmax(axis=1) if bank_labels is None else bank_labels
        arrays = mahalanobis_fit(bank_features[:, :width], labels)
        if maps_width:
            maps = mahalanobis_fit(bank_features[:, width:], np.zeros(len(bank_features), np.int64))
            arrays |= {f"maps_{name}": array for name, array in maps.items()}
    elif uses_knn:
        arrays = {"bank": bank_t.numpy()}
    params = UnknownParams(
        method=method,
        arrays=arrays,
        k=k,
        knn_scale=_quantile_scale(knn, pass_rate, MIN_KNN_SCALE) if uses_knn else 1.0,
        msp_scale=_quantile_scale(msp, pass_rate, MIN_MSP_SCALE),
        block=block,
        width=width,
        in_width=int(in_width),
        maps_width=maps_width,
    )
    if method == "layers":  # each part's scale: its own 95% quantile, so that neither outweighs
        with torch.inference_mode():
            f_t = torch.as_tensor(f)
            pen = [torch.as_tensor(arrays[name]) for name in MAHALANOBIS_ARRAYS]
            part = mahalanobis_distances(f_t[:, :width], *pen).numpy()
            params.feature_scale = _quantile_scale(part, pass_rate, 1e-12)
            if maps_width:
                maps = [torch.as_tensor(arrays[name]) for name in MAPS_ARRAYS]
                part = mahalanobis_distances(f_t[:, width:], *maps).numpy()
                params.maps_scale = _quantile_scale(part, pass_rate, 1e-12)
    if method == "knn":
        scores = knn  # computed skipping each bank picture's own row when the bank scores itself
    elif method == "knn+msp":
        scores = np.maximum(knn / params.knn_scale, msp / params.msp_scale)
    else:
        scores = params.scores(f, z)
    return params, pass_threshold(scores, pass_rate)
