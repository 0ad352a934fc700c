"""The ensemble as one torch module, so it exports (ONNX) and predicts like a single model.

`EnsembleModule` takes the pictures normalised as the ensemble's preprocessing says (its first
member's) and returns log(p), where p is the weighted average of the members' softmax outputs.
Every export and the app apply a softmax to a model's output; softmax(log p) = p / sum(p) = p, so
what comes out of an export is exactly the averaged probabilities.

Members may normalise differently (a custom CNN divides by 255, a pre-trained backbone also takes
ImageNet's mean and std): each member's input is recomputed from the ensemble's by a per-channel
multiply-add, exact in float32 to rounding. Members must read the same decoded picture (size,
colour, fit); see ensemble.build for the check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from cnnstudio.core.spec import Preprocessing

# The smallest positive float32: log() of it is finite (-87.3), and exp() of that is far below the
# 1e-4 an export may differ by.
_TINY = torch.finfo(torch.float32).tiny


def input_adapter(source: Preprocessing, target: Preprocessing) -> tuple[list[float], list[float]] | None:
    """(a, b) per channel so that target-normalised x_t = a * x_s + b for source-normalised x_s;
    None when the two normalise alike.

    x_s = (u * s_s - m_s) / d_s for the decoded pixel u, so u = (x_s * d_s + m_s) / s_s and
    x_t = (u * s_t - m_t) / d_t = x_s * (d_s s_t / (s_s d_t)) + (m_s s_t / s_s - m_t) / d_t.
    """
    if (source.scale, tuple(source.mean), tuple(source.std)) == (
        target.scale,
        tuple(target.mean),
        tuple(target.std),
    ):
        return None
    a, b = [], []
    for ms, ds, mt, dt in zip(source.mean, source.std, target.mean, target.std, strict=True):
        a.append(ds * target.scale / (source.scale * dt))
        b.append((ms * target.scale / source.scale - mt) / dt)
    return a, b


class EnsembleModule(nn.Module):
    """Weighted average of the members' probabilities; returns its log (see the module docstring)."""

    def __init__(
        self,
        members: list[nn.Module],
        weights: list[float],
        adapters: list[tuple[list[float], list[float]] | None] | None = None,
    ) -> None:
        super().__init__()
        if len(members) != len(weights):
            raise ValueError("one weight per member")
        total = float(sum(weights))
        if not total > 0:
            raise ValueError("the weights must add up to more than 0")
        self.members = nn.ModuleList(members)
        adapters = adapters or [None] * len(members)
        self._adapted = [a is not None for a in adapters]
        # Buffers, so they move with .to(device) and export as constants; not persistent, so the
        # saved state dict holds the members' weights only (the rest is rebuilt from model.json).
        self.register_buffer(
            "weights", torch.tensor([w / total for w in weights], dtype=torch.float32), persistent=False
        )
        for i, adapter in enumerate(adapters):
            if adapter is not None:
                a, b = adapter
                self.register_buffer(f"scale_{i}", torch.tensor(a).view(1, -1, 1, 1), persistent=False)
                self.register_buffer(f"shift_{i}", torch.tensor(b).view(1, -1, 1, 1), persistent=False)

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        total = None
        for i, member in enumerate(self.members):
            xi = x
            if self._adapted[i]:
                xi = x * getattr(self, f"scale_{i}") + getattr(self, f"shift_{i}")
            p = torch.softmax(member(xi).float(), dim=1) * self.weights[i]
            total = p if total is None else total + p
        return total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(self.probabilities(x).clamp_min(_TINY))
