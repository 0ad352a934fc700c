"""The run-folder side of `Trainer`: checkpoints that never hold non-finite weights, state.json,
config.json, metrics.csv, and resuming a run from its last checkpoint.

`RunStateMixin` is one of `Trainer`'s bases; it works on the trainer's attributes (model, config,
run_dir, history, best, early, epoch, _batch, _order, _partial, ...) set in `Trainer.__init__`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from cnnstudio.core.errors import UserError
from cnnstudio.core.runs.files import (
    CONFIG_FILE,
    library_versions,
    metrics_at_checkpoint,
    note_resume,
    read_json,
    write_config,
    write_metrics,
    write_state,
)
from cnnstudio.core.train import checkpoints as ckpt
from cnnstudio.core.train import distributed
from cnnstudio.core.train.config import TrainConfig
from cnnstudio.core.train.failures import Unstable
from cnnstudio.core.train.spec_bridge import preprocessing_from_dict


class RunStateMixin:
    """Checkpoints, the run folder's files and resuming (see the module's docstring)."""

    # ----- resuming ---------------------------------------------------------------------------
    @classmethod
    def resume_run(
        cls,
        run_dir: Path | str,
        train=None,
        val=None,
        callbacks=(),
        *,
        model: torch.nn.Module | None = None,
        preprocessing=None,
        epochs: int | None = None,
    ):
        """Continue a run from its last checkpoint (epoch, position, optimizer, schedule, RNG).

        With `train` (and `val`), trains to the configured number of epochs (or `epochs`, to train
        a finished run further; config.json records the new total) and returns the History.
        Without data, returns the Trainer ready to continue: call `.fit(train, val)`.
        A run trained on a model given as code needs `model` (a fresh instance of the same
        architecture); a run from a ModelSpec is rebuilt from its config.json.
        """
        run_dir = Path(run_dir)
        if not (run_dir / CONFIG_FILE).exists():
            raise UserError(f"{run_dir} is not a training run (it has no {CONFIG_FILE}).")
        saved = read_json(run_dir / CONFIG_FILE)
        source = model if model is not None else saved.get("spec")
        if source is None:
            raise UserError(
                f"The run {run_dir.name} was trained on a model given as code; pass that model to resume it."
            )
        if preprocessing is None:
            preprocessing = preprocessing_from_dict(saved["preprocessing"])
        trainer = cls(
            source,
            TrainConfig.from_dict(saved["train"]),
            class_names=saved["class_names"],
            preprocessing=preprocessing,
            run_dir=run_dir,
            callbacks=callbacks,
            run_info=saved.get("run_info"),
        )
        trainer.init_weights = saved.get("init_weights")
        trainer._restore(*ckpt.load_last(run_dir))
        if epochs is not None:
            if epochs < trainer.epoch:
                raise UserError(
                    f"The run {run_dir.name} has already trained {trainer.epoch} epochs; "
                    f"choose at least {trainer.epoch}."
                )
            trainer.config.epochs = int(epochs)
        if train is None:
            return trainer
        return trainer.fit(train, val)

    def _restore(self, weights: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        ckpt.load_state_into(self.model, weights, "the last checkpoint")
        self._last_good = ckpt.model_state_float32(self.model)
        self.epoch, self._batch, self._seq = int(state["epoch"]), int(state["batch"]), int(state["seq"])
        self._order = state.get("order")
        self._partial = state.get("partial")
        self.best.load_state_dict(state["best"])
        self.early.load_state_dict(state["early_stopping"])
        self.history.epochs = [dict(e) for e in state["epoch_logs"]]
        self._sync_history_best()
        ckpt.set_rng_state(state["rng"], self.device, self.generator)
        self._pending_state = state
        self._started = True
        if self.run_dir is not None and (self.run_dir / ckpt.BEST_WEIGHTS).exists():
            self._best_weights = ckpt.read_weights(self.run_dir / ckpt.BEST_WEIGHTS)[0]
        if self.dist is not None and self._batch:
            # Stopped mid-epoch: its order is one process's share; a distributed run redoes that epoch.
            self._batch, self._order, self._partial = 0, None, None
        if self.dist is not None and not self.dist.is_rank0:  # the checkpoint holds rank 0's streams
            self.generator.manual_seed(self.config.seed + self._rank_offset() + self.epoch)
            torch.manual_seed(self.config.seed + self._rank_offset() + self.epoch)
        if self.run_dir is not None:
            self._rows = metrics_at_checkpoint(self.run_dir, self.epoch, self._batch, self.history.epochs)

    def _train_state(self) -> dict[str, Any]:
        self._seq += 1
        return {
            "format": 1,
            "seq": self._seq,
            "epoch": self.epoch,
            "batch": self._batch,
            "order": self._order,  # None between epochs
            "partial": self._partial,
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": ckpt.rng_state(self.device, self.generator),
            "best": self.best.state_dict(),
            "early_stopping": self.early.state_dict(),
            "epoch_logs": [dict(e) for e in self.history.epochs],
            "precision": self.precision.name,
        }

    def _finite_weights(self, epoch: int) -> dict[str, torch.Tensor]:
        weights = ckpt.model_state_float32(self.model)
        if not ckpt.all_finite(weights):
            raise Unstable(epoch, math.nan)
        return weights

    def _checkpoint(self, epoch: int, weights: dict[str, torch.Tensor] | None = None) -> None:
        """Save the last checkpoint of the work done (never non-finite weights)."""
        self._last_good = weights if weights is not None else self._finite_weights(epoch)
        if self.run_dir is None:
            return
        ckpt.save_last(self.run_dir, self._last_good, self._train_state())
        write_metrics(self.run_dir, self._rows)

    def _write_state(self, status: str, reason: str = "", message: str = "") -> None:
        if self.run_dir is None:
            return
        write_state(
            self.run_dir,
            status,
            reason=reason,
            message=message,
            epochs_done=self.epoch,
            epochs=self.config.epochs,
            batch=self._batch,
            best={"monitor": self.history.monitor, "value": self.best.value, "epoch": self.best.epoch},
            precision=self.precision.label,
            device=str(self.device),
        )

    def _write_config(self, train_n: int, val_n: int) -> None:
        if self.run_dir is None:
            return
        now = time.strftime("%Y-%m-%dT%H:%M:%S")
        if (self.run_dir / CONFIG_FILE).exists():  # a resumed run keeps its config, noting the resume
            resume = {
                "time": now,
                "epoch": self.epoch,
                "device": str(self.device),
                "precision": self.precision.name,
                "epochs": self.config.epochs,
            }
            if self.dist is not None:
                resume["distributed"] = distributed.describe(self.dist, self.config.batch_size)
            note_resume(self.run_dir, resume)
            return
        write_config(
            self.run_dir,
            {
                "created": now,
                "spec": self.spec_dict,
                "model": type(self.model).__name__,
                "train": self.config.to_dict(),
                "preprocessing": self.preprocessing.to_dict(),
                "class_names": self.class_names,
                "run_info": self.run_info,
                "seed": self.config.seed,
                "versions": library_versions(),
                "device": str(self.device),
                "precision": self.precision.name,
                "precision_label": self.precision.label,
                "init_weights": self.init_weights,
                "images": {"train": train_n, "val": val_n},
                "trainable_params": sum(p.numel() for p in self.model.parameters() if p.requires_grad),
                "params": sum(p.numel() for p in self.model.parameters()),
                "resumes": [],
                **(
                    {"distributed": distributed.describe(self.dist, self.config.batch_size)}
                    if self.dist
                    else {}
                ),
            },
        )

    def _sync_history_best(self) -> None:
        self.history.best_epoch, self.history.best_value = self.best.epoch, self.best.value

    def _kept_message(self) -> str:
        if self.run_dir is None:
            return ""
        if self.epoch == 0 and self._batch == 0:
            return "The starting weights are kept as the last checkpoint."
        return f"The last good checkpoint (after epoch {self.epoch}) is kept."

    def _back_to_last_good(self) -> None:
        if self._last_good is not None:
            ckpt.load_state_into(self.model, self._last_good, "the last good checkpoint")
