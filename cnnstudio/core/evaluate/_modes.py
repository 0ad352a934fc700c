"""Put a model in eval mode for a while and give each sub-module back the mode it had."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode inside the block; on exit every sub-module regains its own previous mode.

    Restoring per module, not with one ``model.train(was_training)``, keeps deliberate mixes intact
    (a frozen backbone's BatchNorm kept in eval while the head trains).
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training
