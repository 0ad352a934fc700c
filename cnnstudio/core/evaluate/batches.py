"""uint8 pictures in batches, the reading that inference and calibration share."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


def check_images(X: np.ndarray | torch.Tensor) -> None:
    if X.ndim != 4:
        raise ValueError(f"images must be an array of shape (N, C, H, W); got shape {tuple(X.shape)}")
    if X.dtype not in (np.uint8, torch.uint8):
        raise ValueError(f"images must be uint8 (0-255), as the decode cache stores them; got {X.dtype}")


def batches(X: np.ndarray | torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, len(X), batch_size):
        chunk = X[start : start + batch_size]
        # A memory-mapped cache slice is read here, one batch at a time.
        yield chunk if isinstance(chunk, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(chunk))
