"""`RunState`: what a run keeps of itself and writes to its folder.

It owns the History (each epoch's logs, how the run ended), the best value (`Best`, which picks
best.safetensors), the rows of metrics.csv, the checkpoint number (`seq`, which pairs
last.safetensors with last_optimizer.pt) and the last good weights (never non-finite; what a
failure goes back to). With a run folder it writes config.json, state.json, metrics.csv and the
checkpoints; without one (run_dir None) it keeps the same in memory and writes nothing.

Checkpoint saving is a callback (Lightning's ModelCheckpoint): `on_epoch_end` records the epoch,
saves the last checkpoint and, when the monitored value improved, best.safetensors, then state.json.
The Trainer calls it before the callbacks it was given, so they find the run folder up to date.
The training state in a checkpoint comes from the Trainer (`train_state`), state.json's position
from `position`; the checkpoint at the start of a run and at a stop are saved by the Trainer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from cnnstudio.core.runs.files import (
    CONFIG_FILE,
    library_versions,
    metrics_at_checkpoint,
    note_resume,
    write_config,
    write_metrics,
    write_state,
)
from cnnstudio.core.train import checkpoints as ckpt
from cnnstudio.core.train import distributed
from cnnstudio.core.train.callbacks import History
from cnnstudio.core.train.failures import Unstable
from cnnstudio.core.train.monitor import Best

Weights = dict[str, torch.Tensor]


class RunState:
    """The run's records and its folder's files (see the module's docstring).

    `train_state()` gives the Trainer's training state for a checkpoint (optimizer, schedule, RNG,
    position, ...); `position()` gives state.json's {epochs_done, epochs, batch, precision, device}.
    """

    def __init__(
        self,
        run_dir: Path | None,
        mode: str,
        *,
        train_state: Callable[[], dict[str, Any]],
        position: Callable[[], dict[str, Any]],
    ):
        self.run_dir = run_dir
        self.history = History()
        self.best = Best(mode)
        self.rows: list[dict[str, Any]] = []  # metrics.csv: epoch rows and about 50 batch rows an epoch
        self.seq = 0
        self.last_good: Weights | None = None  # the weights of the last checkpoint
        self.best_weights: Weights | None = None
        self.epoch_weights: Weights | None = None  # the finished epoch's, checked finite, to checkpoint
        self.batches = 0
        self._train_state = train_state
        self._position = position

    def add_row(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    def sync_best(self) -> None:
        self.history.best_epoch, self.history.best_value = self.best.epoch, self.best.value

    # ----- checkpoints ---------------------------------------------------------------------------
    def finite_weights(self, model: torch.nn.Module, epoch: int) -> Weights:
        """A float32 CPU copy of the model's weights; raises Unstable when one is not finite."""
        weights = ckpt.model_state_float32(model)
        if not ckpt.all_finite(weights):
            raise Unstable(epoch, math.nan)
        return weights

    def save_checkpoint(self, weights: Weights) -> None:
        """Save the last checkpoint of the work done (never non-finite weights) and metrics.csv."""
        self.last_good = weights
        if self.run_dir is None:
            return
        self.seq += 1
        ckpt.save_last(self.run_dir, weights, {"format": 1, "seq": self.seq, **self._train_state()})
        write_metrics(self.run_dir, self.rows)

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self.batches = logs["batches"]  # an epoch's, for metrics.csv's epoch rows

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        """Record the epoch and save it: the last checkpoint, best.safetensors if it is the best so far,
        state.json. The Trainer has checked its weights (`epoch_weights`) and moved to the next epoch."""
        improved = self.best.update(logs[self.history.monitor], epoch)
        self.history.epochs.append(dict(logs))
        self.rows.append({"kind": "epoch", "batches": self.batches, **logs})
        self.sync_best()
        self.save_checkpoint(self.epoch_weights)
        if improved:
            self.best_weights = self.last_good
            if self.run_dir is not None:
                ckpt.save_best(self.run_dir, self.best_weights, epoch, self.history.monitor, self.best.value)
        self.write_state("running")

    def back_to_last_good(self, model: torch.nn.Module) -> None:
        if self.last_good is not None:
            ckpt.load_state_into(model, self.last_good, "the last good checkpoint")

    def kept_message(self, epoch: int, batch: int) -> str:
        if self.run_dir is None:
            return ""
        if epoch == 0 and batch == 0:
            return "The starting weights are kept as the last checkpoint."
        return f"The last good checkpoint (after epoch {epoch}) is kept."

    # ----- resuming ------------------------------------------------------------------------------
    def restore(self, weights: Weights, state: dict[str, Any], epoch: int, batch: int) -> None:
        """Take the records back from a checkpoint (weights, training state) at (epoch, batch)."""
        self.last_good = weights
        self.seq = int(state["seq"])
        self.best.load_state_dict(state["best"])
        self.history.epochs = [dict(e) for e in state["epoch_logs"]]
        self.sync_best()
        if self.run_dir is None:
            return
        if (self.run_dir / ckpt.BEST_WEIGHTS).exists():
            self.best_weights = ckpt.read_weights(self.run_dir / ckpt.BEST_WEIGHTS)[0]
        self.rows = metrics_at_checkpoint(self.run_dir, epoch, batch, self.history.epochs)

    # ----- state.json and config.json ------------------------------------------------------------
    def write_state(self, status: str, reason: str = "", message: str = "") -> None:
        if self.run_dir is None:
            return
        best = {"monitor": self.history.monitor, "value": self.best.value, "epoch": self.best.epoch}
        write_state(self.run_dir, status, reason=reason, message=message, best=best, **self._position())

    def write_config(self, trainer, train_n: int, val_n: int) -> None:
        """config.json from the Trainer's public attributes; a resumed run keeps its own, noting the resume."""
        if self.run_dir is None:
            return
        now = time.strftime("%Y-%m-%dT%H:%M:%S")
        config, dist = trainer.config, trainer.dist
        described = {"distributed": distributed.describe(dist, config.batch_size)} if dist else {}
        if (self.run_dir / CONFIG_FILE).exists():
            resume = {
                "time": now,
                "epoch": trainer.epoch,
                "device": str(trainer.device),
                "precision": trainer.precision.name,
                "epochs": config.epochs,
                **described,
            }
            note_resume(self.run_dir, resume)
            return
        model = trainer.model
        write_config(
            self.run_dir,
            {
                "created": now,
                "spec": trainer.spec_dict,
                "model": type(model).__name__,
                "train": config.to_dict(),
                "preprocessing": trainer.preprocessing.to_dict(),
                "class_names": trainer.class_names,
                "run_info": trainer.run_info,
                "seed": config.seed,
                "versions": library_versions(),
                "device": str(trainer.device),
                "precision": trainer.precision.name,
                "precision_label": trainer.precision.label,
                "init_weights": trainer.init_weights,
                "images": {"train": train_n, "val": val_n},
                "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
                "params": sum(p.numel() for p in model.parameters()),
                "resumes": [],
                **described,
            },
        )
