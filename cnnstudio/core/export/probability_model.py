"""The app's model with the softmax the app applies, as every export carries it."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from cnnstudio.core.trust import Calibration


class ProbabilityModel(nn.Module):
    """Normalised float images (N, C, H, W) in, class probabilities (N, K) out.

    Exports hold this rather than the bare model (which returns logits, see core.spec.build_model),
    so that what a programmer gets out of an exported file is exactly what the app shows:
    probabilities that sum to 1, computed in float32 like core.evaluate.predict_probabilities,
    of the logits divided by the run's calibrated temperature.

    With a calibration that has an unknown score, forward returns (probabilities, unknown_score):
    the score is core.trust.unknown.UnknownScore, the module the app itself computes it with, on the
    features core.trust.outputs.Taps catches (hooks, which tracing records), as the app does; its
    arrays are constants of the graph.
    """

    def __init__(self, model: nn.Module, calibration: Calibration | None = None) -> None:
        super().__init__()
        from cnnstudio.core.trust.outputs import Taps

        self.model = model
        self.temperature = float(calibration.temperature) if calibration is not None else 1.0
        self.with_unknown = bool(calibration is not None and calibration.has_unknown)
        self._taps = None
        if self.with_unknown:
            self.unknown = calibration.unknown.module()
            self._taps = Taps(model, maps=self.unknown.maps_width > 0)

    def forward(self, x: torch.Tensor):
        if self._taps is not None:
            self._taps.clear()
        logits = self.model(x).float()
        features = self._taps.features(logits) if self._taps is not None else None
        if self.temperature != 1.0:
            logits = logits / self.temperature
        probs = torch.softmax(logits, dim=1)
        if features is None:
            return probs
        return probs, self.unknown(features, logits)


def exportable(model: nn.Module, calibration: Calibration | None = None) -> ProbabilityModel:
    """An eval-mode CPU copy wrapped in ProbabilityModel.

    A copy, because exporters switch the modules' train/eval mode back and forth, and the app's own
    model (maybe in the middle of a training session's GUI) must not change under it.
    """
    clone = copy.deepcopy(model).to("cpu").float()
    return ProbabilityModel(clone, calibration).eval()
