"""The learning-rate range test (fastai's lr_find, after Leslie Smith).

Train a copy of the model for up to `num_batches` batches while the learning rate grows
exponentially from `start_lr` to `end_lr`; record the loss, smoothed (exponential moving average,
bias-corrected); stop once the smoothed loss exceeds `diverge` times the best seen. The real model
and the global random state are left untouched.

The suggestion is the learning rate where the smoothed loss falls fastest (the steepest negative
slope of loss against log10(lr)) before the minimum, ignoring the first points (still warming up
the average). When the sweep is too short to tell (fewer than 10 points), it is one tenth of the
learning rate with the lowest loss. Both are returned.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from cnnstudio.core.train.config import TrainConfig
from cnnstudio.core.train.data import DeviceData
from cnnstudio.core.train.device import resolve_device, resolve_precision
from cnnstudio.core.train.memory_format import use_channels_last
from cnnstudio.core.train.optim import balanced_class_weights, build_optimizer, trainable_parameters
from cnnstudio.core.train.spec_bridge import regularization_of
from cnnstudio.core.train.step import TrainStep, freeze_frozen_batchnorm


@dataclass
class LRFindResult:
    lrs: list[float]
    losses: list[float]  # smoothed
    suggestion: float
    min_loss_lr: float

    def to_dict(self) -> dict:
        return {
            "lrs": self.lrs,
            "losses": self.losses,
            "suggestion": self.suggestion,
            "min_loss_lr": self.min_loss_lr,
        }


def suggest_lr(lrs: list[float], losses: list[float]) -> tuple[float, float]:
    """(suggestion, lr at the minimum loss); see the module docstring."""
    if not lrs:
        return math.nan, math.nan
    loss = np.asarray(losses, dtype=np.float64)
    lr = np.asarray(lrs, dtype=np.float64)
    finite = np.isfinite(loss)
    if not finite.any():
        return float(lr[0]), float(lr[0])
    best = int(np.nanargmin(np.where(finite, loss, np.inf)))
    min_loss_lr = float(lr[best])
    # Descent happens before the minimum: what follows it is the loss taking off.
    end = best + 1
    skip = min(10, end // 10)
    if end - skip < 10:
        return min_loss_lr / 10, min_loss_lr
    slope = np.gradient(loss[skip:end], np.log10(lr[skip:end]))
    return float(lr[skip + int(np.argmin(slope))]), min_loss_lr


def lr_find(
    model: torch.nn.Module,
    train,
    *,
    preprocessing,
    config: TrainConfig | None = None,
    device: torch.device | str | None = None,
    num_classes: int | None = None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_batches: int = 100,
    smoothing: float = 0.98,
    diverge: float = 4.0,
    progress=None,
    should_stop=None,
) -> LRFindResult:
    """Sweep the learning rate on a copy of `model` over the (X uint8, y) training data.

    Uses the config's optimizer, batch size, precision, augmentation, class weights and seed.
    `progress(done, total)` is called after each batch; `should_stop()` ends the sweep early.
    """
    config = config or TrainConfig()
    device = resolve_device(config.device) if device is None else torch.device(device)
    plan = resolve_precision(config.precision, device)
    X, y = train
    if num_classes is None:
        num_classes = int(np.asarray(y).max()) + 1
    data = DeviceData(X, y, device, num_classes, "training")
    work = copy.deepcopy(model).to(device)
    if plan.channels_last:
        use_channels_last(work)
    work.train()
    freeze_frozen_batchnorm(work)
    optimizer = build_optimizer(trainable_parameters(work), config, lr=start_lr)
    weight = None
    if config.balance_classes:
        weight = balanced_class_weights(data.class_counts(num_classes)).to(device)
    generator = torch.Generator().manual_seed(config.seed)
    step = TrainStep(
        work,
        optimizer,
        preprocessing=preprocessing,
        plan=plan,
        device=device,
        augment=config.augment,
        generator=generator,
        loss_fn=torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing),
        regularization=regularization_of(work),
        scaler=torch.amp.GradScaler(device.type) if plan.grad_scaler else None,
    )
    factor = (end_lr / start_lr) ** (1 / max(1, num_batches - 1))
    lrs: list[float] = []
    losses: list[float] = []
    average, best = 0.0, math.inf
    rng = torch.get_rng_state()  # dropout draws from it: leave the real training's stream as it was
    cuda_rng = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
    try:
        while len(lrs) < num_batches:
            order = torch.randperm(data.n, generator=generator)
            for _, xb, yb in data.batches(order, config.batch_size):
                lr = start_lr * factor ** len(lrs)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                loss, _ = step(xb, yb)
                if not math.isfinite(loss):
                    return _result(lrs, losses)
                average = smoothing * average + (1 - smoothing) * loss
                smoothed = average / (1 - smoothing ** (len(lrs) + 1))
                lrs.append(lr)
                losses.append(smoothed)
                best = min(best, smoothed)
                if progress is not None:
                    progress(len(lrs), num_batches)
                if smoothed > diverge * best or len(lrs) >= num_batches:
                    return _result(lrs, losses)
                if should_stop is not None and should_stop():
                    return _result(lrs, losses)
        return _result(lrs, losses)
    finally:
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)


def _result(lrs: list[float], losses: list[float]) -> LRFindResult:
    suggestion, min_loss_lr = suggest_lr(lrs, losses)
    return LRFindResult(list(lrs), list(losses), suggestion, min_loss_lr)
