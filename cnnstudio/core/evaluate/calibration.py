"""Calibrated confidence (temperature scaling) and an "unknown" score for pictures unlike the training ones.

- Temperature scaling (Guo et al. 2017): one number T per run, fitted with LBFGS to minimise the
  negative log-likelihood of the validation pictures; probabilities are softmax(logits / T). The
  weights are not touched and the best class never changes.
- Expected calibration error: 15 equal-width confidence bins, sum over bins of
  (bin share of pictures) * |accuracy - mean confidence|.
- Unknown score: Mahalanobis distance (Lee et al. 2018) of the picture's penultimate features (the
  input of the model's last Linear layer) to the nearest class mean of the training pictures, with
  one covariance shared by the classes. Higher = more unlike the training pictures. The default
  threshold lets UNKNOWN_PASS_RATE of the validation pictures pass. Chosen by measurement:
  benchmarks/bench_unknown.py compares it with max-softmax, energy (Liu et al. 2020) and kNN on
  normalised features (Sun et al. 2022) on pictures from other sources (numbers in the README).
  Stored as `offset` m (D,) (the training features' mean), `projection` L (D, D) with L L^T = the
  inverse covariance, and the class means projected, `centres` (K, D) = (mean_k - m) L: score =
  min_k |(f - m) L - centre_k|^2, only matrix products, so the ONNX and TorchScript exports compute
  it in their graph. (Subtracting m first keeps the numbers small, so float32 stays exact enough.)

A run keeps all of it in calibration.json (the Calibration below); a .cnnmodel bundle carries the
same file, and the ONNX / TorchScript exports compute both the calibrated probabilities and the
score in their graph.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnstudio.core.atomic import write_bytes_atomic
from cnnstudio.core.errors import UserError

FILE_NAME = "calibration.json"
SCHEMA_VERSION = 1
ECE_BINS = 15
UNKNOWN_PASS_RATE = 0.95
KNN_K = 10
METHOD = "mahalanobis"
# Covariance shrinkage: this share of the features' mean variance is added to the diagonal, so that
# a direction that never varies in training (a unit that is always 0) cannot make the inverse blow up.
RIDGE = 1e-3
NOT_CALIBRATED = "not calibrated (trained before calibration existed; temperature 1)"
# Fewer validation pictures than this, or none wrong, say nothing reliable about over-confidence
# (with no mistakes the likelihood always prefers a smaller temperature): the temperature stays 1.
MIN_CALIBRATION_PICTURES = 30
TEMPERATURE_RANGE = (0.2, 20.0)


# ---------------------------------------------------------------------------------------------------
# Model outputs: logits and penultimate features in one pass


def last_linear(model: nn.Module) -> nn.Linear | None:
    """The model's class-score layer: its last nn.Linear (None when it has none)."""
    found = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            found = module
    return found


class FeatureModel(nn.Module):
    """Normalised float images in; (logits, penultimate features) out. Features are the input of the
    last Linear layer, flattened; a model without a Linear layer gives its logits as features."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self._head = last_linear(model)
        self._seen: list[torch.Tensor] = []
        if self._head is not None:
            self._head.register_forward_pre_hook(self._keep)

    def _keep(self, _module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self._seen.append(inputs[0])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._seen.clear()
        logits = self.model(x).float()
        features = self._seen[-1] if self._seen else logits
        self._seen.clear()
        return logits, features.flatten(1).float()


def model_outputs(
    model: nn.Module,
    X_uint8: np.ndarray | torch.Tensor,
    preprocessing: Any,
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, K), penultimate features (N, D)) float32 of uint8 (N, C, H, W) pictures."""
    from cnnstudio.core.evaluate._modes import evaluation_mode
    from cnnstudio.core.evaluate.batches import batches as _batches
    from cnnstudio.core.evaluate.batches import check_images as _check_images

    _check_images(X_uint8)
    device = torch.device(device)
    model.to(device)
    head = last_linear(model)
    seen: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0])) if head else None
    logits_out, features_out = [], []
    try:
        with evaluation_mode(model), torch.inference_mode():
            batches = [torch.as_tensor(X_uint8[:0])] if len(X_uint8) == 0 else _batches(X_uint8, batch_size)
            for batch in batches:
                seen.clear()
                logits = model(preprocessing.normalize(batch.to(device))).float()
                features = seen[-1] if seen else logits
                logits_out.append(logits.cpu())
                features_out.append(features.flatten(1).float().cpu())
    finally:
        if hook is not None:
            hook.remove()
    return torch.cat(logits_out).numpy(), torch.cat(features_out).numpy()


# ---------------------------------------------------------------------------------------------------
# Temperature scaling and calibration error


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) in float32, as torch computes it (the exports' own operation)."""
    t = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    return torch.softmax(t / float(temperature), dim=1).numpy()


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    t = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    return torch.log_softmax(t / float(temperature), dim=1).numpy()


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


# ---------------------------------------------------------------------------------------------------
# Unknown scores


def normalize_rows(features: np.ndarray) -> np.ndarray:
    f = np.asarray(features, dtype=np.float32)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def knn_scores(features: np.ndarray, bank: np.ndarray, k: int) -> np.ndarray:
    """Distance of each normalised feature row to its k-th nearest row of the (normalised) bank."""
    f = torch.as_tensor(normalize_rows(features))
    b = torch.as_tensor(np.asarray(bank, dtype=np.float32))
    if len(f) == 0:
        return np.zeros(0, np.float32)
    k = max(1, min(k, len(b)))
    out = []
    for start in range(0, len(f), 1024):
        sim = f[start : start + 1024] @ b.T
        kth = sim.topk(k, dim=1).values[:, -1]
        out.append(torch.sqrt(torch.clamp(2.0 - 2.0 * kth, min=0.0)))
    return torch.cat(out).numpy().astype(np.float32)


def max_softmax_scores(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Baseline (Hendrycks & Gimpel 2017): 1 - the top probability. Higher = more unknown."""
    return (1.0 - softmax(logits, temperature).max(axis=1)).astype(np.float32)


def energy_scores(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Energy (Liu et al. 2020): -T * logsumexp(logits / T). Higher = more unknown."""
    t = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    return (-temperature * torch.logsumexp(t / temperature, dim=1)).numpy().astype(np.float32)


@dataclass
class Mahalanobis:
    """Lee et al. 2018 on penultimate features: class means and one shared (tied) covariance.

    Kept as ``offset`` m (D,), ``projection`` L (D, D), with L L^T the inverse covariance, and
    ``centres`` (K, D) = (class means - m) L, so that the score is min over classes of
    |(f - m) L - centre|^2.
    """

    offset: np.ndarray
    projection: np.ndarray
    centres: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, y: np.ndarray, num_classes: int) -> Mahalanobis:
        f = np.asarray(features, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        present = [c for c in range(num_classes) if (y == c).any()]
        means = np.stack([f[y == c].mean(axis=0) for c in present])
        centred = f - means[np.searchsorted(present, y)]
        cov = centred.T @ centred / max(1, len(f))
        total = float(np.trace(np.cov(f.T))) if len(f) > 1 else 0.0
        cov += (RIDGE * max(total, float(np.trace(cov))) / max(1, cov.shape[0]) + 1e-12) * np.eye(
            cov.shape[0]
        )
        # Whitening: L = V diag(1/sqrt(eigenvalues)), so L L^T = cov^-1.
        values, vectors = np.linalg.eigh(cov)
        projection = vectors / np.sqrt(np.maximum(values, 1e-12))
        offset = f.mean(axis=0)
        return cls(
            offset.astype(np.float32),
            projection.astype(np.float32),
            ((means - offset) @ projection).astype(np.float32),
        )

    def scores(self, features: np.ndarray) -> np.ndarray:
        return mahalanobis_scores(features, self.offset, self.projection, self.centres)


def mahalanobis_scores(
    features: np.ndarray, offset: np.ndarray, projection: np.ndarray, centres: np.ndarray
) -> np.ndarray:
    """min over classes of |(f - m) L - centre|^2, in float32 torch as the exports compute it."""
    f = torch.as_tensor(np.asarray(features, dtype=np.float32))
    if len(f) == 0:
        return np.zeros(0, np.float32)
    offset_t, projection_t, centres_t = (torch.as_tensor(v) for v in (offset, projection, centres))
    step = max(1, 2**24 // max(1, centres_t.shape[0] * centres_t.shape[1]))  # (N, K, D) at most 64 MB
    return torch.cat(
        [
            _mahalanobis_torch(f[i : i + step], offset_t, projection_t, centres_t)
            for i in range(0, len(f), step)
        ]
    ).numpy()


def _mahalanobis_torch(
    features: torch.Tensor, offset: torch.Tensor, projection: torch.Tensor, centres: torch.Tensor
) -> torch.Tensor:
    # The differences themselves, not |a|^2 - 2ab + |b|^2: that expansion loses all precision in
    # float32 when the projected features are large, and the exports must give the app's scores.
    a = (features.flatten(1).float() - offset) @ projection
    differences = a.unsqueeze(1) - centres.unsqueeze(0)  # (N, K, D)
    distances = (differences * differences).sum(dim=2)
    return torch.clamp(distances.min(dim=1).values, min=0.0)


# ---------------------------------------------------------------------------------------------------
# The calibration of one run


def _encode(array: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(array, dtype="<f4")
    return {"dtype": "float32", "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def _decode(data: dict[str, Any]) -> np.ndarray:
    if data.get("dtype") != "float32":
        raise ValueError("unknown dtype")
    raw = base64.b64decode(data["data"], validate=True)
    array = np.frombuffer(raw, dtype="<f4").reshape(data["shape"]).astype(np.float32)
    if not np.isfinite(array).all():
        raise ValueError("not finite")
    return array


@dataclass(eq=False)
class Calibration:
    """What a run needs to give calibrated probabilities and unknown scores.

    ``temperature``: divide the logits by it before the softmax. ``offset`` (D,), ``projection``
    (D, D) and ``centres`` (K, D): the Mahalanobis score's data (see Mahalanobis); ``threshold``: a picture
    whose unknown score is above it is "unknown". ``fitted`` False: a run from before calibration
    (T = 1, no unknown score).
    """

    temperature: float = 1.0
    threshold: float | None = None
    offset: np.ndarray | None = None
    projection: np.ndarray | None = None
    centres: np.ndarray | None = None
    method: str = METHOD
    fitted: bool = False
    ece_before: float | None = None
    ece_after: float | None = None
    bins_before: list[dict] = field(default_factory=list)
    bins_after: list[dict] = field(default_factory=list)
    val_count: int = 0
    pass_rate: float = UNKNOWN_PASS_RATE
    note: str = ""  # why the temperature was kept at 1, in plain words

    @property
    def has_unknown(self) -> bool:
        return self.projection is not None and self.centres is not None and self.threshold is not None

    @property
    def status(self) -> str:
        if not self.fitted:
            return NOT_CALIBRATED
        if self.note:
            return self.note
        return f"calibrated on {self.val_count} validation pictures (temperature {self.temperature:.3f})"

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return softmax(logits, self.temperature)

    def unknown_scores(self, features: np.ndarray) -> np.ndarray | None:
        if not self.has_unknown:
            return None
        return mahalanobis_scores(features, self.offset, self.projection, self.centres)

    def summary(self, logits: np.ndarray | None = None, y: np.ndarray | None = None) -> dict[str, Any]:
        """For evaluate --json: temperature, ece_before, ece_after, bins (after), bins_before, threshold.

        With ``logits`` and labels ``y`` of some pictures, the ECE and bins are measured on them
        (before: temperature 1; after: this calibration's); else they are the validation split's.
        """
        if logits is not None and y is not None:
            before, after = softmax(logits), self.probabilities(logits)
            measured = {
                "ece_before": expected_calibration_error(before, y),
                "ece_after": expected_calibration_error(after, y),
                "bins": calibration_bins(after, y),
                "bins_before": calibration_bins(before, y),
            }
            return {**self.summary(), **measured}
        return {
            "calibrated": self.fitted,
            "status": self.status,
            "temperature": self.temperature,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "bins": self.bins_after,
            "bins_before": self.bins_before,
            "unknown_method": self.method if self.has_unknown else None,
            "unknown_threshold": self.threshold,
            "validation_pictures": self.val_count,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "fitted": self.fitted,
            "temperature": self.temperature,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "bins_before": self.bins_before,
            "bins_after": self.bins_after,
            "val_count": self.val_count,
            "note": self.note,
            "unknown": None
            if self.projection is None or self.centres is None
            else {
                "method": self.method,
                "threshold": self.threshold,
                "pass_rate": self.pass_rate,
                "offset": _encode(self.offset),
                "projection": _encode(self.projection),
                "centres": _encode(self.centres),
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        if not isinstance(data, dict) or not isinstance(data.get("schema_version"), int):
            raise ValueError("not a calibration")
        if data["schema_version"] > SCHEMA_VERSION:
            raise UserError("This calibration was saved by a newer CNN Studio. Update CNN Studio to use it.")
        temperature = float(data["temperature"])
        if not (np.isfinite(temperature) and temperature > 0):
            raise ValueError("bad temperature")
        unknown = data.get("unknown") or None
        cal = cls(
            temperature=temperature,
            fitted=bool(data.get("fitted", True)),
            ece_before=data.get("ece_before"),
            ece_after=data.get("ece_after"),
            bins_before=list(data.get("bins_before") or []),
            bins_after=list(data.get("bins_after") or []),
            val_count=int(data.get("val_count") or 0),
            note=str(data.get("note") or ""),
        )
        if unknown:
            if unknown.get("method") != METHOD:
                raise ValueError(f"unknown method {unknown.get('method')!r}")
            cal.method = METHOD
            cal.threshold = float(unknown["threshold"])
            cal.pass_rate = float(unknown.get("pass_rate", UNKNOWN_PASS_RATE))
            cal.offset = _decode(unknown["offset"])
            cal.projection = _decode(unknown["projection"])
            cal.centres = _decode(unknown["centres"])
            p, c, m = cal.projection, cal.centres, cal.offset
            if p.ndim != 2 or c.ndim != 2 or m.shape != (p.shape[0],) or c.shape[1] != p.shape[1]:
                raise ValueError("shapes do not fit")
        return cal

    def to_json_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode("utf-8")

    @classmethod
    def from_json_bytes(cls, data: bytes, where: str) -> Calibration:
        try:
            return cls.from_dict(json.loads(data.decode("utf-8")))
        except UserError:
            raise
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise UserError(
                f"The calibration in {where} is damaged. Calibrate the run again "
                "(cnnstudio evaluate --recalibrate) or train a new run."
            ) from None

    def save(self, run_dir: Path | str) -> Path:
        path = Path(run_dir) / FILE_NAME
        write_bytes_atomic(path, self.to_json_bytes())
        return path

    @classmethod
    def load(cls, run_dir: Path | str) -> Calibration:
        """A run's calibration.json; an uncalibrated Calibration (T = 1) when the run has none."""
        path = Path(run_dir) / FILE_NAME
        if not path.exists():
            return cls()
        return cls.from_json_bytes(path.read_bytes(), str(path))


def fit_calibration(
    model: nn.Module,
    preprocessing: Any,
    X_train: np.ndarray | torch.Tensor,
    X_val: np.ndarray | torch.Tensor,
    y_val: np.ndarray,
    *,
    y_train: np.ndarray | None = None,
    num_classes: int | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    pass_rate: float = UNKNOWN_PASS_RATE,
) -> Calibration:
    """Fit the temperature on the validation pictures and the unknown score on the training pictures.

    The class means and covariance come from the training pictures' features, grouped by
    ``y_train`` (by the model's own predictions when not given); the threshold is the ``pass_rate``
    quantile of the validation pictures' scores (of the training pictures' when there is no
    validation split).
    """
    y_val = np.asarray(y_val, dtype=np.int64)
    if len(X_train) == 0:
        raise UserError("There are no training pictures to calibrate with.")
    train_logits, train_features = model_outputs(
        model, X_train, preprocessing, batch_size=batch_size, device=device
    )
    if not np.isfinite(train_logits).all() or not np.isfinite(train_features).all():
        raise UserError("The model's outputs are not numbers; it cannot be calibrated. Train again.")
    labels = train_logits.argmax(axis=1) if y_train is None else np.asarray(y_train, dtype=np.int64)
    k = num_classes or train_logits.shape[1]
    maha = Mahalanobis.fit(train_features, labels, k)
    cal = Calibration(
        offset=maha.offset, projection=maha.projection, centres=maha.centres, fitted=True, pass_rate=pass_rate
    )
    if len(y_val):
        logits, features = model_outputs(model, X_val, preprocessing, batch_size=batch_size, device=device)
        if not np.isfinite(logits).all():
            raise UserError("The model's outputs are not numbers; it cannot be calibrated. Train again.")
        wrong = int((logits.argmax(axis=1) != y_val).sum())
        if len(y_val) < MIN_CALIBRATION_PICTURES:
            cal.note = (
                f"temperature kept at 1: {len(y_val)} validation pictures are too few to calibrate "
                f"(at least {MIN_CALIBRATION_PICTURES} are needed)"
            )
        elif wrong == 0:
            cal.note = (
                "temperature kept at 1: the model got every validation picture right, so they say "
                "nothing about how over-confident it is"
            )
        else:
            cal.temperature = fit_temperature(logits, y_val)
        before, after = softmax(logits), softmax(logits, cal.temperature)
        cal.bins_before, cal.bins_after = calibration_bins(before, y_val), calibration_bins(after, y_val)
        cal.ece_before = expected_calibration_error(before, y_val)
        cal.ece_after = expected_calibration_error(after, y_val)
        cal.val_count = len(y_val)
        scores = maha.scores(features)
    else:
        scores = maha.scores(train_features)
    cal.threshold = float(np.quantile(scores, pass_rate)) if len(scores) else None
    return cal


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
    """The one core call for calibrated predictions: probabilities, unknown scores and flags.

    ``threshold`` overrides the calibration's unknown threshold (a user's slider).
    """
    calibration = calibration or Calibration()
    logits, features = model_outputs(model, X_uint8, preprocessing, batch_size=batch_size, device=device)
    probs = calibration.probabilities(logits)
    log_probs = log_softmax(logits, calibration.temperature)
    scores = calibration.unknown_scores(features)
    limit = calibration.threshold if threshold is None else float(threshold)
    flags = None if scores is None or limit is None else scores > limit
    return CalibratedOutput(probs, log_probs, scores, flags, limit if scores is not None else None, logits)
