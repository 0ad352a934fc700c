"""The "unknown" score: how unlike the training pictures a picture is (higher = more unlike).

Chosen by the matrix of benchmarks/bench_trust.py (data sets, designs, label budgets, seeds and six
families of other pictures; numbers in the README), where max-softmax alone, energy and Mahalanobis
each failed somewhere (Mahalanobis on Flatten->Dense designs and with 30 labels per class, energy on
flat colours), the union of two scores held:

- kNN (Sun et al. 2022): the distance of the picture's L2-normalised penultimate features (reduced to
  at most 256 numbers, core.trust.outputs) to its k-th nearest neighbour in a bank of up to BANK_SIZE
  training pictures' features. k shrinks with the bank, k = max(1, round(10 * bank / 2048)): a large k
  on a small bank reaches into other classes and stops telling (k = 50 collapsed on 30 per class).
- max-softmax (Hendrycks & Gimpel 2017): 1 - the calibrated top probability.
- "knn+msp": max(knn / a, msp / b), with a and b the 95% quantiles of each on the validation pictures,
  so that each score is in units of its own typical value and a picture is flagged when either finds
  it unusual: kNN sees pictures unlike any training picture, max-softmax sees those between classes.

The threshold lets 95% of the validation pictures pass. Everything here is matrix products, a top-k
and a maximum, so the exports (ONNX, TorchScript, pt2) compute the score in their graph with
UnknownScore.forward itself; the app calls the same forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnstudio.core.trust.outputs import reduce_features

METHODS = ("knn+msp", "knn", "msp")
DEFAULT_METHOD = "knn+msp"
BANK_SIZE = 2048
PASS_RATE = 0.95
# A scale below this (a model sure of nearly every validation picture) would turn float rounding of
# the top probability into a signal: max-softmax is counted from 0.1% up.
MIN_MSP_SCALE = 1e-3
MIN_KNN_SCALE = 1e-6


def k_for_bank(bank_size: int) -> int:
    return max(1, round(10 * bank_size / BANK_SIZE))


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


@dataclass(eq=False)
class UnknownParams:
    """What the score needs, stored with a run: the bank (B, d) of normalised reduced features (None
    for "msp"), k, the scales a and b, the reduction (block, width) and the features' full width."""

    method: str
    bank: np.ndarray | None
    k: int
    knn_scale: float
    msp_scale: float
    block: int
    width: int
    in_width: int

    def module(self) -> UnknownScore:
        return UnknownScore(self)

    def scores(self, features: np.ndarray, scaled_logits: np.ndarray) -> np.ndarray:
        """Scores of already reduced features (N, width) and logits divided by the temperature (N, K)."""
        with torch.inference_mode():
            f = torch.as_tensor(np.asarray(features, dtype=np.float32))
            z = torch.as_tensor(np.asarray(scaled_logits, dtype=np.float32))
            return self.module().score_reduced(f, z).numpy()


class UnknownScore(nn.Module):
    """(penultimate features (N, in_width), logits divided by the temperature (N, K)) -> score (N,).

    forward takes the raw features (the exports' graph); score_reduced the reduced ones (the app's
    model_outputs reduces them per batch with the same function)."""

    def __init__(self, params: UnknownParams) -> None:
        super().__init__()
        self.method = params.method
        self.k = int(params.k)
        self.block, self.width = int(params.block), int(params.width)
        self.knn_scale = float(params.knn_scale)
        self.msp_scale = float(params.msp_scale)
        bank = params.bank if params.bank is not None else np.zeros((1, params.width), np.float32)
        self.register_buffer("bank", torch.as_tensor(np.asarray(bank, dtype=np.float32)).clone())

    def forward(self, features: torch.Tensor, scaled_logits: torch.Tensor) -> torch.Tensor:
        return self.score_reduced(reduce_features(features, self.block, self.width), scaled_logits)

    def score_reduced(self, features: torch.Tensor, scaled_logits: torch.Tensor) -> torch.Tensor:
        msp = max_softmax(scaled_logits)
        if self.method == "msp":
            return msp
        knn = knn_distances(features.float(), self.bank, self.k)
        if self.method == "knn":
            return knn
        return torch.maximum(knn / self.knn_scale, msp / self.msp_scale)


def fit_unknown(
    bank_features: np.ndarray,
    val_features: np.ndarray | None,
    val_logits: np.ndarray | None,
    *,
    in_width: int,
    block: int,
    method: str = DEFAULT_METHOD,
    train_logits: np.ndarray | None = None,
    pass_rate: float = PASS_RATE,
) -> tuple[UnknownParams, float]:
    """(UnknownParams, threshold) from reduced features of up to BANK_SIZE training pictures, and the
    validation pictures' reduced features and logits divided by the temperature. Without validation pictures,
    the bank's own pictures set the scales and the threshold (each skipping itself)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    bank_t = normalize_rows(torch.as_tensor(np.asarray(bank_features, dtype=np.float32)))
    k = k_for_bank(len(bank_t))
    if val_features is not None and len(val_features):
        f, z, skip = val_features, val_logits, 0
    else:  # no validation pictures: the bank scores itself, each picture skipping its own row
        f, z, skip = bank_features, train_logits, 1
        k = min(k, max(1, len(bank_t) - 1))
    f_t = torch.as_tensor(np.asarray(f, dtype=np.float32))
    z_t = torch.as_tensor(np.asarray(z, dtype=np.float32))
    with torch.inference_mode():
        knn = (
            knn_distances(f_t, bank_t, k, skip=skip) if len(bank_t) > skip else torch.zeros(len(f_t))
        ).numpy()
        msp = max_softmax(z_t).numpy()
    params = UnknownParams(
        method=method,
        bank=None if method == "msp" else bank_t.numpy(),
        k=k,
        knn_scale=max(float(np.quantile(knn, pass_rate)), MIN_KNN_SCALE),
        msp_scale=max(float(np.quantile(msp, pass_rate)), MIN_MSP_SCALE),
        block=block,
        width=int(bank_t.shape[1]),
        in_width=int(in_width),
    )
    if method == "msp":
        scores = msp
    elif method == "knn":
        scores = knn
    else:
        scores = np.maximum(knn / params.knn_scale, msp / params.msp_scale)
    return params, float(np.quantile(scores, pass_rate))
