"""One training step on a uint8 batch, shared by the trainer and the LR range test.

uint8 batch -> (augment in pixel values) -> preprocessing.normalize -> forward under the precision
plan's autocast -> float32 loss -> backward -> optimizer step. The loss is checked before the
backward pass, so a NaN or infinite loss never reaches the weights.
"""

from __future__ import annotations

import contextlib
import math

import torch

from cnnstudio.core.train.augment import augment_batch
from cnnstudio.core.train.config import AugmentConfig
from cnnstudio.core.train.device import PrecisionPlan


def freeze_frozen_batchnorm(model: torch.nn.Module) -> None:
    """Keep BatchNorm layers whose parameters are all frozen in inference mode, as Keras does.

    Otherwise a frozen layer's running mean and variance would still drift with the new data.
    """
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()


def autocast_context(plan: PrecisionPlan, device: torch.device):
    if plan.autocast_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=plan.autocast_dtype)


def prepare_input(xb: torch.Tensor, preprocessing, plan: PrecisionPlan | None = None) -> torch.Tensor:
    """The model's input for a uint8 batch. `plan` is accepted for older callers and not needed:
    the batch stays NCHW even for a channels_last model (see memory_format.py)."""
    return preprocessing.normalize(xb)


class TrainStep:
    """Calling it trains on one batch and returns (loss, number correct) as Python floats."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        preprocessing,
        plan: PrecisionPlan,
        device: torch.device,
        augment: AugmentConfig,
        generator: torch.Generator,
        loss_fn: torch.nn.Module,
        regularization=None,
        scaler: torch.amp.GradScaler | None = None,
    ):
        self.model = model
        self.optimizer = optimizer
        self.preprocessing = preprocessing
        self.plan = plan
        self.device = device
        self.augment = augment if augment.enabled else None
        self.generator = generator
        self.loss_fn = loss_fn
        self.regularization = regularization
        self.scaler = scaler

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[float, float]:
        if self.augment is not None:
            # Augment in pixel values (0..255), before normalising: brightness and contrast then
            # mean the same whatever the model's mean and std.
            xb = augment_batch(xb.float(), self.augment, self.generator, value_range=255.0)
        x = prepare_input(xb, self.preprocessing)
        with autocast_context(self.plan, self.device):
            logits = self.model(x)
        logits = logits.float()
        loss = self.loss_fn(logits, yb)
        if self.regularization is not None:
            loss = loss + self.regularization(self.model)
        # One device sync per batch for both numbers (and the NaN check needs the loss anyway).
        loss_value, correct = torch.stack([loss.detach(), (logits.argmax(1) == yb).sum().float()]).tolist()
        if not math.isfinite(loss_value):
            return loss_value, correct
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return loss_value, correct
