"""The two ways training fails that a person can fix, and their messages in plain words."""

from __future__ import annotations

import math

import torch

from cnnstudio.core.errors import UserError


class TrainingFailed(UserError):
    """Training ended on a cause the person can act on; `reason` is "unstable" or "out_of_memory"."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class Unstable(Exception):
    """Raised inside the loop when the loss (or a weight) is NaN or infinite."""

    def __init__(self, epoch: int, value: float):
        super().__init__(epoch, value)
        self.epoch = epoch
        self.value = value


def is_out_of_memory(exc: BaseException) -> bool:
    """torch.OutOfMemoryError (GPU), MemoryError, or a RuntimeError that says "out of memory" (CPU allocator)."""
    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def unstable_message(epoch: int, value: float) -> str:
    what = "NaN" if math.isnan(value) else "infinite"
    return f"The training went unstable (the loss became {what}) at epoch {epoch + 1}. Try a lower learning rate."


def out_of_memory_message(batch_size: int) -> str:
    return f"Not enough memory for batch size {batch_size}. Try a smaller batch size."
