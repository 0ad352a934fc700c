"""Run a classifier over uint8 images: probabilities, and a full EvaluationReport."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from torch import nn

from cnnstudio.core.errors import UserError
from cnnstudio.core.evaluate._modes import evaluation_mode
from cnnstudio.core.evaluate.batches import batches as _batches
from cnnstudio.core.evaluate.batches import check_images as _check_images
from cnnstudio.core.evaluate.report import EvaluationReport

if TYPE_CHECKING:
    from cnnstudio.core.trust import Calibration


class Normalizer(Protocol):
    """What is needed of core.spec's Preprocessing: uint8 (N,C,H,W) tensor -> float32 tensor."""

    def normalize(self, x: torch.Tensor) -> torch.Tensor: ...


def _log_probabilities(
    model: nn.Module,
    X: np.ndarray | torch.Tensor,
    preprocessing: Normalizer,
    batch_size: int,
    device: str | torch.device,
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, log-probabilities), both (N, K) float32, from one pass over the images."""
    _check_images(X)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    device = torch.device(device)
    model.to(device)
    probs, log_probs = [], []
    with evaluation_mode(model), torch.inference_mode():
        if len(X) == 0:
            # Still run the model once, on an empty batch, so the result has the right number of columns.
            batches = [torch.as_tensor(X[:0])]
        else:
            batches = _batches(X, batch_size)
        for batch in batches:
            logits = model(preprocessing.normalize(batch.to(device))).float()
            probs.append(torch.softmax(logits, dim=1).cpu())
            log_probs.append(torch.log_softmax(logits, dim=1).cpu())
    return torch.cat(probs).numpy(), torch.cat(log_probs).numpy()


def predict_probabilities(
    model: nn.Module,
    X_uint8: np.ndarray | torch.Tensor,
    preprocessing: Normalizer,
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Class probabilities (N, K) float32: softmax of the model's logits, computed in float32.

    The reference every export and the predictor are checked against. The model runs in eval mode
    under ``torch.inference_mode`` (each sub-module's mode is restored afterwards) and is moved to
    ``device``; the images go through ``preprocessing.normalize`` in batches of ``batch_size``.
    """
    probs, _ = _log_probabilities(model, X_uint8, preprocessing, batch_size, device)
    return probs


def evaluate_model(
    model: nn.Module,
    X_uint8: np.ndarray | torch.Tensor,
    y: np.ndarray | list[int],
    *,
    class_names: list[str],
    preprocessing: Normalizer,
    paths: list[str] | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    split: str | None = None,
    run: str | None = None,
    calibration: Calibration | None = None,
) -> EvaluationReport:
    """Predict every image and measure the predictions against the labels ``y`` (class indices).

    With a ``calibration`` (core.trust) the probabilities are the calibrated ones
    and the report holds each picture's unknown score and the calibration's summary.
    """
    y_true = np.asarray(y, dtype=np.int64)
    if len(X_uint8) == 0:
        raise UserError("There are no pictures to evaluate. Check that this split has labelled pictures.")
    if len(y_true) != len(X_uint8):
        raise ValueError(f"got {len(X_uint8)} images but {len(y_true)} labels")
    if paths is not None and len(paths) != len(y_true):
        raise ValueError(f"got {len(y_true)} images but {len(paths)} paths")
    if len(y_true) and (y_true.min() < 0 or y_true.max() >= len(class_names)):
        raise ValueError(f"labels must be class indices 0..{len(class_names) - 1}")
    scores = threshold = None
    if calibration is None:
        probs, log_probs = _log_probabilities(model, X_uint8, preprocessing, batch_size, device)
    else:
        from cnnstudio.core.trust import predict_calibrated

        out = predict_calibrated(
            model, X_uint8, preprocessing, calibration, batch_size=batch_size, device=device
        )
        probs, log_probs, scores, threshold = out.probs, out.log_probs, out.unknown_scores, out.threshold
    if probs.shape[1] != len(class_names):
        raise UserError(
            f"The model predicts {probs.shape[1]} classes but the data has {len(class_names)} "
            f"({', '.join(class_names)}). Evaluate it on data with the classes it was trained on."
        )
    if not np.isfinite(probs).all():
        raise UserError(
            "The model's outputs are not numbers, so training probably went wrong (diverged). "
            "Train again with a lower learning rate."
        )
    # 0.0 - x, not -x: a sure, right answer gets loss 0.0 rather than -0.0.
    losses = 0.0 - log_probs[np.arange(len(y_true)), y_true]
    report = EvaluationReport.from_predictions(
        probs, y_true, class_names=class_names, losses=losses, paths=paths, split=split, run=run
    )
    if calibration is not None:
        report.calibration = calibration.summary(out.logits, y_true)
        report.unknown_scores = scores
        report.unknown_threshold = threshold
    return report
