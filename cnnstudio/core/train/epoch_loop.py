"""One epoch of `Trainer.fit`, and the validation pass after it.

`EpochLoopMixin` is one of `Trainer`'s bases; it works on the trainer's attributes set in
`Trainer.__init__` and `fit` (model, optimizer, schedule, generator, the position in the epoch)
and saves through `RunStateMixin._checkpoint`.
"""

from __future__ import annotations

import math
import time

import torch

from cnnstudio.core.train import checkpoints as ckpt
from cnnstudio.core.train import distributed
from cnnstudio.core.train.data import DeviceData
from cnnstudio.core.train.failures import Unstable
from cnnstudio.core.train.features import feature_inputs, prepare_features, speedup_logs
from cnnstudio.core.train.step import freeze_frozen_batchnorm, prepare_input

MAX_BATCH_ROWS_PER_EPOCH = 50


class EpochLoopMixin:
    """The epoch loop and the validation pass (see the module's docstring)."""

    @torch.inference_mode()
    def _evaluate(self, data: DeviceData) -> tuple[float, float]:
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
        """Validation loss (plain cross-entropy: no class weights, no smoothing) and accuracy, in float32."""
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

    def _run_epoch(self, step, train_data, val_data, batches, key, callbacks) -> tuple[str, str] | None:
        """One epoch (or the rest of one). Returns (status, reason) when training should end."""
        cfg, epoch = self.config, self.epoch
        if self._order is None and self.dist is not None:  # this process's share of the epoch
            self._order = distributed.epoch_order(train_data.n, cfg.seed, epoch, self.dist)
            self._partial = {"loss_sum": 0.0, "correct": 0.0, "seen": 0.0, "seconds": 0.0}
        if self._order is None:  # else: the rest of an epoch that a stop interrupted
            self._order = torch.randperm(train_data.n, generator=self.generator)
            self._partial = {"loss_sum": 0.0, "correct": 0.0, "seen": 0.0, "seconds": 0.0}
        partial = self._partial
        callbacks.call("on_epoch_begin", epoch, {"epoch": epoch, "epochs": cfg.epochs, "batches": batches})
        self.model.train()
        freeze_frozen_batchnorm(self.model)
        every = max(1, math.ceil(batches / MAX_BATCH_ROWS_PER_EPOCH))
        start = time.perf_counter() - partial["seconds"]
        paused = 0.0
        if not prepare_features(train_data, callbacks, self._stop.is_set):  # epoch 1 pays for them
            partial["seconds"] = time.perf_counter() - start
            self._checkpoint(epoch)
            return "stopped", "user"
        for b, xb, yb in train_data.batches(self._order, cfg.batch_size, self._batch):
            paused += self._wait_if_paused()
            if self._stop.is_set():
                partial["seconds"] = time.perf_counter() - start - paused
                self._checkpoint(epoch)
                return "stopped", "user"
            lr = self.optimizer.param_groups[0]["lr"]
            loss, correct = step(xb, yb)
            if not math.isfinite(loss):
                raise Unstable(epoch, loss)
            self.schedule.after_batch()
            n = yb.shape[0]
            partial["loss_sum"] += loss * n
            partial["correct"] += correct
            partial["seen"] += n
            self._batch = b + 1
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
                    self._rows.append({"kind": "batch", **logs})
                callbacks.call("on_batch_end", b, logs)
        train_seconds = time.perf_counter() - start - paused
        loss_sum, correct, seen = distributed.all_reduce_sums(
            [partial["loss_sum"], partial["correct"], partial["seen"]], self.device
        )  # over every process of a distributed run; unchanged otherwise
        val_loss = val_accuracy = None
        if val_data is not None:
            val_loss, val_accuracy = self._evaluate(val_data)
            if not math.isfinite(val_loss):
                raise Unstable(epoch, val_loss)
        logs = {
            "epoch": epoch,
            "loss": loss_sum / seen,
            "accuracy": correct / seen,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - start - paused,
            "images_per_s": seen / train_seconds if train_seconds > 0 else None,
        }
        logs.update(speedup_logs(self))  # augmenting a cacheable model: how much faster without
        weights = self._finite_weights(epoch)  # before anything records this epoch as done
        monitored = logs[key]
        improved = self.best.update(monitored, epoch)
        stop_early = cfg.early_stopping and self.early.should_stop(monitored, epoch)
        self.schedule.after_epoch(monitored)
        self.epoch, self._batch, self._order, self._partial = epoch + 1, 0, None, None
        self.history.epochs.append(logs)
        self._rows.append({"kind": "epoch", "batches": batches, **logs})
        self._sync_history_best()
        self._checkpoint(epoch, weights)
        if improved:
            self._best_weights = self._last_good
            if self.run_dir is not None:
                ckpt.save_best(self.run_dir, self._best_weights, epoch, key, monitored)
        self._write_state("running")
        callbacks.call("on_epoch_end", epoch, dict(logs))
        if stop_early:
            return "finished", "early_stopping"
        return None
