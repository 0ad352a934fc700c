"""The optimizer, the learning-rate schedule and the class weights a `TrainConfig` asks for."""

from __future__ import annotations

import torch

from cnnstudio.core.train.config import TrainConfig


def trainable_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Only parameters that train: frozen ones must get neither weight decay nor momentum."""
    return [p for p in model.parameters() if p.requires_grad]


def build_optimizer(params, config: TrainConfig, lr: float | None = None) -> torch.optim.Optimizer:
    lr = config.lr if lr is None else lr
    wd = config.weight_decay
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=wd
        )
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


class Schedule:
    """A learning-rate schedule that knows whether it steps after each batch or each epoch.

    Per batch: cosine and one_cycle (smooth over the whole run). Per epoch: step and plateau
    (plateau needs the epoch's monitored value). constant has no scheduler at all.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: TrainConfig, batches_per_epoch: int):
        self.kind = config.schedule
        self.mode = "max" if config.monitor.endswith("accuracy") else "min"
        total = max(1, config.epochs * batches_per_epoch)
        self.scheduler: (
            torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None
        )
        if self.kind == "step":
            self.scheduler = torch.optim.lr_scheduler.StepLR(
                optimizer, step_size=config.step_size, gamma=config.gamma
            )
        elif self.kind == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=total, eta_min=config.min_lr
            )
        elif self.kind == "one_cycle":
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=config.lr, total_steps=total
            )
        elif self.kind == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode=self.mode,
                factor=config.plateau_factor,
                patience=config.plateau_patience,
                min_lr=config.min_lr,
            )
        else:
            self.scheduler = None
        self.per_batch = self.kind in ("cosine", "one_cycle")

    def after_batch(self) -> None:
        if not self.per_batch:
            return
        # A run continued past its planned length (more epochs than it was scheduled for) keeps
        # the final rate: cosine would climb again and OneCycleLR refuses extra steps.
        s = self.scheduler
        end = s.total_steps - 1 if self.kind == "one_cycle" else s.T_max
        if s.last_epoch < end:
            s.step()

    def after_epoch(self, monitored: float | None) -> None:
        if self.kind == "step":
            self.scheduler.step()
        elif self.kind == "plateau" and monitored is not None:
            self.scheduler.step(monitored)

    def state_dict(self) -> dict | None:
        return None if self.scheduler is None else self.scheduler.state_dict()

    def load_state_dict(self, state: dict | None) -> None:
        if self.scheduler is not None and state is not None:
            self.scheduler.load_state_dict(state)


def balanced_class_weights(counts: torch.Tensor) -> torch.Tensor:
    """N / (K * count) per class: the rare classes weigh more. A class absent from training gets 1."""
    counts = counts.double()
    present = counts > 0
    k = int(present.sum())
    weights = torch.ones_like(counts)
    if k:
        weights[present] = counts.sum() / (k * counts[present])
    return weights.float()
