"""One forward pass giving a model's logits and its penultimate features, reduced to at most MAX_DIM.

The features are the input of the model's last Linear layer (caught by a forward pre-hook), flattened.
A Flatten->Dense design feeds its last layer tens of thousands of numbers (12,544 for two conv blocks
on 28x28 pictures); the unknown score needs only their shape, so they are reduced per batch, at once,
by averaging consecutive blocks of `block` numbers (the last block padded with zeros): MAX_DIM numbers
at most, never the full width for every picture in memory. A block of a flattened (C, H, W) map is a
stretch of one channel's rows, so the average is a coarse spatial pooling. Measured: 256 dimensions
flag as well as 1,024 (benchmarks/bench_trust.py).

Beside them, the feature maps: the channel means and spread (standard deviation over the picture)
of every 4-D output of the model's layers (of each run of outputs of one shape, the last: a
ConvBlock's BatchNorm, a Pool), joined and reduced the same way. They say what the early layers saw
(colours, edges, texture) where the penultimate features say only what the classes need; the
unknown score uses both (core.trust.unknown, "layers").

`Taps` catches both during a forward pass; the app (model_outputs) and every export graph
(core.export.probability_model) use it, so the app's numbers are the exported model's numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MAX_DIM = 256


def last_linear(model: nn.Module) -> nn.Linear | None:
    """The model's class-score layer: its last nn.Linear (None when it has none)."""
    found = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            found = module
    return found


def reduction(width: int, max_dim: int = MAX_DIM) -> tuple[int, int]:
    """(block, reduced width) for features `width` wide: block 1 when they already fit."""
    if width <= max_dim:
        return 1, width
    block = math.ceil(width / max_dim)
    return block, math.ceil(width / block)


def reduce_features(features: torch.Tensor, block: int, width: int) -> torch.Tensor:
    """(N, D) -> (N, width): the mean of consecutive `block` numbers (zero-padded to width * block)."""
    features = features.flatten(1).float()
    if block == 1:
        return features
    padding = width * block - features.shape[1]
    if padding:
        features = F.pad(features, (0, padding))
    return features.reshape(features.shape[0], width, block).mean(dim=2)


def map_stats(maps: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, 2C): each channel's mean and standard deviation over the picture."""
    variance, means = torch.var_mean(maps.float(), dim=(2, 3), correction=0)
    return torch.cat([means, variance.sqrt()], dim=1)


class Taps:
    """Hooks on a model that catch, in one forward pass, the input of its last Linear layer and its
    feature maps (the 4-D outputs of the top-level `layers`, of each run of one shape the last).

    `features(logits)` then gives the reduced penultimate features (N, <= MAX_DIM) followed by the
    reduced map statistics (N, <= MAX_DIM; none for a model without feature maps): torch operations
    only, so an export's trace records them. `remove()` takes the hooks off."""

    def __init__(self, model: nn.Module, *, maps: bool = True, max_dim: int = MAX_DIM) -> None:
        self.max_dim = max_dim
        self._penultimate: list[torch.Tensor] = []
        self._maps: list[torch.Tensor] = []  # the statistics of the maps kept so far
        self._pending: torch.Tensor | None = None  # the last map, kept if the next differs in shape
        self._handles = []
        head = last_linear(model)
        if head is not None:
            self._handles.append(head.register_forward_pre_hook(self._keep_input))
        if maps:
            for layer in getattr(model, "layers", ()):
                self._handles.append(layer.register_forward_hook(self._keep_output))

    def _keep_input(self, _module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self._penultimate.append(inputs[0])

    def _keep_output(self, _module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.dim() == 4:
            # Of a run of maps of one shape (Conv, BatchNorm) only the last counts; one map is held
            # at a time, and only its statistics are kept (a batch's maps may be 100s of MB).
            pending = self._pending
            if pending is not None and pending.shape[1:] != output.shape[1:]:
                self._maps.append(map_stats(pending))
            self._pending = output

    def clear(self) -> None:
        self._penultimate.clear()
        self._maps.clear()
        self._pending = None

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def features(self, logits: torch.Tensor) -> torch.Tensor:
        """The reduced features (N, penultimate width + maps width); clears."""
        kept = (self._penultimate[-1] if self._penultimate else logits).flatten(1)
        block, width = reduction(kept.shape[1], self.max_dim)
        parts = [reduce_features(kept, block, width)]
        maps = self._maps + ([map_stats(self._pending)] if self._pending is not None else [])
        if maps:
            stats = torch.cat(maps, dim=1)
            parts.append(reduce_features(stats, *reduction(stats.shape[1], self.max_dim)))
        self.clear()
        return torch.cat(parts, dim=1)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) in float32, as torch computes it (the exports' own operation)."""
    t = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    return torch.softmax(t / float(temperature), dim=1).numpy()


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    t = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    return torch.log_softmax(t / float(temperature), dim=1).numpy()


def feature_width(model: nn.Module) -> int | None:
    """The number of features the model's last Linear layer takes (None without one)."""
    head = last_linear(model)
    return None if head is None else int(head.in_features)


def model_outputs(
    model: nn.Module,
    X_uint8: np.ndarray | torch.Tensor,
    preprocessing: Any,
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    max_dim: int = MAX_DIM,
    features: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(logits (N, K), reduced features (N, <= 2 max_dim)) float32 of uint8 (N, C, H, W): the
    penultimate part first (Taps.features). A model without a Linear layer gives its logits as its
    penultimate features; `features=False` keeps none (None).

    On the CPU the pictures go in channels-last (NHWC): oneDNN's convolutions then run 1.3-1.6x
    faster (seed, small-vgg, MobileNetV3, ResNet-18 at 64-224 pixels; grey pictures unchanged), and
    the numbers agree with NCHW's to float rounding (1e-5 on ResNet-18's logits).
    """
    from cnnstudio.core.evaluate._modes import evaluation_mode
    from cnnstudio.core.evaluate.batches import batches as _batches
    from cnnstudio.core.evaluate.batches import check_images as _check_images

    _check_images(X_uint8)
    device = torch.device(device)
    model.to(device)
    taps = Taps(model, max_dim=max_dim) if features else None
    logits_out, features_out = [], []
    try:
        with evaluation_mode(model), torch.inference_mode():
            batches = [torch.as_tensor(X_uint8[:0])] if len(X_uint8) == 0 else _batches(X_uint8, batch_size)
            for batch in batches:
                x = preprocessing.normalize(batch.to(device))
                if device.type == "cpu" and x.dim() == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                logits = model(x).float()
                logits_out.append(logits.cpu())
                if taps is not None:
                    features_out.append(taps.features(logits).cpu())
    finally:
        if taps is not None:
            taps.remove()
    return torch.cat(logits_out).numpy(), torch.cat(features_out).numpy() if features else None
