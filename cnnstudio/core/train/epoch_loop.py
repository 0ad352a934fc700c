"""`EpochLoop`: one epoch of `Trainer.fit` and the validation pass after it, and where training is.

The loop owns its position (Lightning's progress objects): `epoch` (epochs done), `batch` (batches
done in the current epoch; not 0 only after a stop in the middle of one), `order` (that epoch's
shuffled order) and `partial` (its running sums and seconds). `state_dict()` / `load_state_dict()`
carry them through a checkpoint, so a resumed run continues the same epoch from the next batch.

It is given the model, the generator and the controls (stop, pause) when built, and the step and
schedule of a fit when it runs; it writes no file and decides nothing about the run: `run` returns
the epoch's logs (or None when a stop came first), and the Trainer records, checkpoints and calls
the epoch-end callbacks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch

from cnnstudio.core.train import distributed
from cnnstudio.core.train.config import TrainConfig
from cnnstudio.core.train.data import DeviceData
from cnnstudio.core.train.failures import Unstable
from cnnstudio.core.train.features import feature_inputs, prepare_features
from cnnstudio.core.train.step import freeze_frozen_batchnorm, prepare_input

MAX_BATCH_ROWS_PER_EPOCH = 50


class EpochLoop:
    """The epoch loop and the validation pass, with the position in training (module docstring).

    `should_stop()` and `wait_if_paused()` (seconds waited) are the Trainer's controls, checked
    between batches; `add_row(row)` receives about 50 batch rows an epoch for metrics.csv.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        config: TrainConfig,
        *,
        preprocessing,
        device: torch.device,
        generator: torch.Generator,
        dist,
        should_stop: Callable[[], bool],
        wait_if_paused: Callable[[], float],
        add_row: Callable[[dict[str, Any]], None],
    ):
        self.model = model
        self.config = config  # the Trainer's: a resumed run may be given more epochs
        self.preprocessing = preprocessing
        self.device = device
        self.generator = generator
        self.dist = dist
        self.should_stop = should_stop
        self.wait_if_paused = wait_if_paused
        self.add_row = add_row
        self.epoch = 0  # epochs completed
        self.batch = 0  # batches completed in the current epoch (a stop mid-epoch)
        self.order: torch.Tensor | None = None  # None between epochs
        self.partial: dict[str, float] | None = None

    # ----- the position, through checkpoints ----------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batch": self.batch, "order": self.order, "partial": self.partial}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        self.order, self.partial = state.get("order"), state.get("partial")

    def restart_epoch(self) -> None:
        """Forget a stopped epoch's position: it starts again from its first batch."""
        self.batch, self.order, self.partial = 0, None, None

    def next_epoch(self) -> None:
        self.epoch += 1
        self.restart_epoch()

    # ----- validation ----------------------------------------------------------------------------
    @torch.inference_mode()
    def evaluate(self, data: DeviceData) -> tuple[float, float]:
        """Validation loss (plain cross-entropy: no class weights, no smoothing) and accuracy, in float32."""
        if self.dist is None:
            return self._evaluate_sums(data)
        # a distributed run: each process evaluated its share (fit); sums and counts are added up
        loss_mean, acc = self._evaluate_sums(data)
        total, correct, n = distributed.all_reduce_sums(
            [loss_mean * data.n, acc * data.n, data.n], self.device
        )
        return total / n, correct / n

    @torch.inference_mode()
    def _evaluate_sums(self, data: DeviceData) -> tuple[float, float]:
        was_training = self.model.training
        self.model.eval()
        total = correct = 0.0
        net, prep = feature_inputs(data, self.model, self.preprocessing)
        for _, xb, yb in data.batches(None, max(64, self.config.batch_size * 2)):
            logits = net(prepare_input(xb, prep)).float()
            loss = torch.nn.functional.cross_entropy(logits, yb, reduction="sum")
            batch_loss, batch_correct = torch.stack([loss, (logits.argmax(1) == yb).sum().float()]).tolist()
            total += batch_loss
            correct += batch_correct
        self.model.train(was_training)
        return total / max(1, data.n), correct / max(1, data.n)

    # ----- one epoch -----------------------------------------------------------------------------
    def _begin(self, n: int) -> dict[str, float]:
        if self.order is None and self.dist is not None:  # this process's share of the epoch
            self.order = distributed.epoch_order(n, self.config.seed, self.epoch, self.dist)
            self.partial = {"loss_sum": 0.0, "correct": 0.0, "seen": 0.0, "seconds": 0.0}
        if self.order is None:  # else: the rest of an epoch that a stop interrupted
            self.order = torch.randperm(n, generator=self.generator)
            self.partial = {"loss_sum": 0.0, "correct": 0.0, "seen": 0.0, "seconds": 0.0}
        return self.partial

    def run(self, step, optimizer, schedule, train_data, val_data, batches: int, callbacks) -> dict | None:
        """One epoch (or the rest of one): its logs, not yet recorded (the position stays at the end
        of its batches until `next_epoch`). None when a stop came first; the position is then where
        it stopped, for the checkpoint."""
        epoch = self.epoch
        partial = self._begin(train_data.n)
        callbacks.call(
            "on_epoch_begin", epoch, {"epoch": epoch, "epochs": self.config.epochs, "batches": batches}
        )
        self.model.train()
        freeze_frozen_batchnorm(self.model)
        every = max(1, math.ceil(batches / MAX_BATCH_ROWS_PER_EPOCH))
        start = time.perf_counter() - partial["seconds"]
        paused = 0.0
        if not prepare_features(train_data, callbacks, self.should_stop):  # epoch 1 pays for them
            partial["seconds"] = time.perf_counter() - start
            return None
        for b, xb, yb in train_data.batches(self.order, self.config.batch_size, self.batch):
            paused += self.wait_if_paused()
            if self.should_stop():
                partial["seconds"] = time.perf_counter() - start - paused
                return None
            lr = optimizer.param_groups[0]["lr"]
            loss, correct = step(xb, yb)
            if not math.isfinite(loss):
                raise Unstable(epoch, loss)
            schedule.after_batch()
            n = yb.shape[0]
            partial["loss_sum"] += loss * n
            partial["correct"] += correct
            partial["seen"] += n
            self.batch = b + 1
            log_row = (b + 1) % every == 0 or b + 1 == batches
            if callbacks.wants_batches or log_row:
                elapsed = time.perf_counter() - start - paused
                logs = {
                    "epoch": epoch,
                    "batch": b,
                    "batches": batches,
                    "loss": partial["loss_sum"] / partial["seen"],
                    "accuracy": partial["correct"] / partial["seen"],
                    "lr": lr,
                    "images_per_s": partial["seen"] / elapsed if elapsed > 0 else None,
                }
                if log_row:
                    self.add_row({"kind": "batch", **logs})
                callbacks.call("on_batch_end", b, logs)
        train_seconds = time.perf_counter() - start - paused
        loss_sum, correct, seen = distributed.all_reduce_sums(
            [partial["loss_sum"], partial["correct"], partial["seen"]], self.device
        )  # over every process of a distributed run; unchanged otherwise
        val_loss = val_accuracy = None
        if val_data is not None:
            val_loss, val_accuracy = self.evaluate(val_data)
            if not math.isfinite(val_loss):
                raise Unstable(epoch, val_loss)
        return {
            "epoch": epoch,
            "loss": loss_sum / seen,
            "accuracy": correct / seen,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - start - paused,
            "images_per_s": seen / train_seconds if train_seconds > 0 else None,
        }
