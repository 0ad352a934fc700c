"""One forward pass giving a model's logits and its penultimate features, reduced to at most MAX_DIM.

The features are the input of the model's last Linear layer (caught by a forward pre-hook), flattened.
A Flatten->Dense design feeds its last layer tens of thousands of numbers (12,544 for two conv blocks
on 28x28 pictures); the unknown score needs only their shape, so they are reduced per batch, at once,
by averaging consecutive blocks of `block` numbers (the last block padded with zeros): MAX_DIM numbers
at most, never the full width for every picture in memory. A block of a flattened (C, H, W) map is a
stretch of one channel's rows, so the average is a coarse spatial pooling. Measured: 256 dimensions
flag as well as 1,024 (benchmarks/bench_trust.py).

The exports compute the same reduction in their graph (core.trust.unknown.UnknownScore.forward), so
the app's numbers are the exported model's numbers.
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
) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, K), reduced penultimate features (N, <= max_dim)) float32 of uint8 (N, C, H, W).

    A model without a Linear layer gives its logits as features.
    """
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
                features = (seen[-1] if seen else logits).flatten(1)
                block, width = reduction(features.shape[1], max_dim)
                logits_out.append(logits.cpu())
                features_out.append(reduce_features(features, block, width).cpu())
    finally:
        if hook is not None:
            hook.remove()
    return torch.cat(logits_out).numpy(), torch.cat(features_out).numpy()
