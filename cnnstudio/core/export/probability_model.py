"""The app's model with the softmax the app applies, as every export carries it."""

from __future__ import annotations

import copy

import torch
from torch import nn


class ProbabilityModel(nn.Module):
    """Normalised float images (N, C, H, W) in, class probabilities (N, K) out.

    Exports hold this rather than the bare model (which returns logits, see core.spec.build_model),
    so that what a programmer gets out of an exported file is exactly what the app shows:
    probabilities that sum to 1, computed in float32 like core.evaluate.predict_probabilities.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x).float(), dim=1)


def exportable(model: nn.Module) -> ProbabilityModel:
    """An eval-mode CPU copy wrapped in ProbabilityModel.

    A copy, because exporters switch the modules' train/eval mode back and forth, and the app's own
    model (maybe in the middle of a training session's GUI) must not change under it.
    """
    clone = copy.deepcopy(model).to("cpu").float()
    return ProbabilityModel(clone).eval()
