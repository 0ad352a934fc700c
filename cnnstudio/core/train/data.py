"""The cached split as one uint8 tensor on the training device, and batches gathered from it by index.

The decode cache hands us uint8 (N, C, H, W), often an np.memmap. We never make a float copy of the
dataset: the uint8 array goes to the device once (1.2 GB for 100,000 images of 64x64x3) and each
batch is `index_select`ed from it with the epoch's shuffled permutation, then converted to float
and normalised on the device, a batch at a time.

A memmap is read into RAM once (uint8) for CPU training: gathering random rows from a memmap
page-faults on every batch, and its pages would end up in RAM anyway. For a GPU the array is copied
straight from the memmap to the GPU; when it does not fit there, it stays in RAM and each batch is
copied over as it is gathered.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import torch

from cnnstudio.core.errors import UserError


def _as_uint8_tensor(X, what: str) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        tensor = X
    else:
        array = np.asarray(X)
        if isinstance(X, np.memmap) or not array.flags.writeable or not array.flags.c_contiguous:
            array = np.array(array, dtype=array.dtype, order="C", copy=True)  # one read into RAM
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # non-writable arrays: we never write to them
            tensor = torch.from_numpy(array)
    if tensor.dtype != torch.uint8:
        raise ValueError(
            f"{what} images must be uint8 (N, C, H, W) as the decode cache stores them, not {tensor.dtype}"
        )
    if tensor.dim() != 4:
        raise ValueError(f"{what} images must have 4 dimensions (N, C, H, W), not {tuple(tensor.shape)}")
    return tensor


class DeviceData:
    """One split (images and labels) held on the device, gathered into batches by index."""

    def __init__(self, X, y, device: torch.device, num_classes: int, what: str = "training"):
        images = _as_uint8_tensor(X, what)
        labels = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).long()
        if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"{what}: {images.shape[0]} images but {tuple(labels.shape)} labels")
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise UserError(
                f"The {what} labels go up to {int(labels.max())} but the model has {num_classes} classes. "
                "The project's classes changed: start a new run."
            )
        self.n = int(images.shape[0])
        self.shape = tuple(images.shape[1:])
        self.device = device
        self.y = labels.to(device)
        self.x = images
        if device.type != "cpu":
            try:
                self.x = images.to(device)
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if "out of memory" not in str(exc).lower():
                    raise
                # Too big for the GPU: keep it in (pinned) RAM and copy each batch over.
                self.x = images.contiguous()
                if device.type == "cuda":
                    self.x = self.x.pin_memory()
                    torch.cuda.empty_cache()
        self.on_device = self.x.device.type == device.type

    def __len__(self) -> int:
        return self.n

    def class_counts(self, num_classes: int) -> torch.Tensor:
        return torch.bincount(self.y.cpu(), minlength=num_classes)

    def num_batches(self, batch_size: int, training: bool = True, n: int | None = None) -> int:
        """Batches in an epoch of `n` images (default: all of them; a distributed process: its share)."""
        full, rest = divmod(self.n if n is None else n, batch_size)
        if training and rest == 1 and full > 0:
            # BatchNorm cannot train on a batch of one image: that epoch skips it (a different,
            # random image each epoch, since the order is shuffled).
            return full
        return full + (1 if rest else 0)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The uint8 images and labels at `index` (a tensor on the data's device)."""
        xb = self.x.index_select(0, index if self.on_device else index.cpu())
        if not self.on_device:
            xb = xb.to(self.device, non_blocking=True)
        return xb, self.y.index_select(0, index)

    def batches(
        self, order: torch.Tensor | None, batch_size: int, start: int = 0
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """(batch number, uint8 images, labels) from batch `start` on.

        `order` is the epoch's shuffled permutation for training (or a distributed process's share
        of it); None = every image in order.
        """
        n = self.n if order is None else len(order)
        count = self.num_batches(batch_size, training=order is not None, n=n)
        if order is not None:
            order = order.to(self.device)
        for b in range(start, count):
            lo = b * batch_size
            hi = min(lo + batch_size, n)
            if order is None:
                if self.on_device:
                    yield b, self.x[lo:hi], self.y[lo:hi]
                else:
                    yield b, self.x[lo:hi].to(self.device, non_blocking=True), self.y[lo:hi]
            else:
                xb, yb = self.batch(order[lo:hi])
                yield b, xb, yb
