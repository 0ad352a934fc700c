"""`Trainer`: trains a model (or a ModelSpec) on the cached uint8 split, with a run folder.

Pause, resume and stop are flags checked between batches, from any thread:
- `pause()` makes the loop wait on a threading.Event (no busy loop) after the current batch;
  `resume()` lets it go on. Time paused is not counted in seconds or images/s.
- `request_stop()` ends training after the current batch. The stop saves the work done: a stop
  in the middle of an epoch saves the weights after the last finished batch as last.safetensors,
  with the position in the epoch (its shuffled order, the batch, the running sums and every RNG
  state) in last_optimizer.pt, so `resume_run` continues that same epoch from the next batch and
  ends bit-identical to a run that was never stopped. The unfinished epoch gets no row in the
  epoch history and cannot become best.safetensors (it has not been validated).
A kill (or a crash) loses at most the current epoch: checkpoints are written at the start of the
run and after every epoch.

Determinism: on the CPU, the same seed and the same data give bit-identical weights. The seed
goes to torch.manual_seed (model building, dropout) and to the trainer's own torch.Generator
(shuffling and augmentation); deterministic algorithms are switched on for the duration of fit()
on the CPU (it costs nothing there) and restored afterwards. On a GPU, results are close but not
bit-identical.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import torch

from cnnstudio.core.errors import UserError
from cnnstudio.core.runs import (
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
from cnnstudio.core.train.callbacks import CallbackList, History
from cnnstudio.core.train.config import TrainConfig
from cnnstudio.core.train.data import DeviceData
from cnnstudio.core.train.device import configure_threads, resolve_device, resolve_precision
from cnnstudio.core.train.failures import (
    TrainingFailed,
    Unstable,
    is_out_of_memory,
    out_of_memory_message,
    unstable_message,
)
from cnnstudio.core.train.features import feature_inputs, plan_features, prepare_features, speedup_logs
from cnnstudio.core.train.memory_format import use_channels_last
from cnnstudio.core.train.monitor import Best, EarlyStopping, monitored_key
from cnnstudio.core.train.optim import Schedule, balanced_class_weights, build_optimizer, trainable_parameters
from cnnstudio.core.train.spec_bridge import (
    build_from_spec,
    is_spec,
    preprocessing_from_dict,
    regularization_of,
)
from cnnstudio.core.train.step import TrainStep, freeze_frozen_batchnorm, prepare_input

MAX_BATCH_ROWS_PER_EPOCH = 50


class Trainer:
    """Train `model_or_spec` (a torch.nn.Module giving logits, or a ModelSpec / its dict).

    `preprocessing` needs `.normalize(x_uint8) -> float tensor` and `.to_dict()`. `init_weights`
    (a .safetensors file, a run folder = its best weights, or a state dict) starts from trained
    weights; it must fit the model exactly. `run_info` (dataset hash, split, ...) is stored in
    config.json. Without `run_dir` nothing is written to disk.
    """

    def __init__(
        self,
        model_or_spec,
        config: TrainConfig | None = None,
        *,
        class_names: list[str],
        preprocessing,
        run_dir: Path | str | None = None,
        callbacks=(),
        run_info: dict[str, Any] | None = None,
        init_weights: Path | str | dict | None = None,
    ):
        self.config = config if config is not None else TrainConfig()
        self.config.validate()
        if len(class_names) < 2:
            raise UserError("Training needs at least two classes of images.")
        configure_threads()
        self.class_names = list(class_names)
        self.preprocessing = preprocessing
        self.run_dir = Path(run_dir) if run_dir is not None else None
        # A distributed run (torchrun, see distributed.py): only rank 0 writes the run folder.
        self.dist = distributed.current()
        if self.dist is not None and not self.dist.is_rank0:
            self.run_dir = None
        self._ddp: torch.nn.Module | None = None
        self.callbacks = list(callbacks)
        self.run_info = dict(run_info or {})
        self.device = resolve_device(distributed.device_name() if self.dist else self.config.device)
        self.precision = resolve_precision(self.config.precision, self.device)

        torch.manual_seed(self.config.seed)  # the model's initial weights when built from a spec
        if is_spec(model_or_spec):
            model, self.spec, self.spec_dict = build_from_spec(model_or_spec, len(self.class_names))
        elif isinstance(model_or_spec, torch.nn.Module):
            model, self.spec, self.spec_dict = model_or_spec, None, None
        else:
            raise TypeError("Trainer needs a torch.nn.Module or a ModelSpec")
        self.init_weights = ckpt.load_init_weights(model, init_weights) if init_weights is not None else None
        self.model = model.to(self.device)
        if self.precision.channels_last:
            use_channels_last(self.model)
        # Augmentation differs between distributed processes; the epoch's order does not (distributed.py).
        self.generator = torch.Generator().manual_seed(self.config.seed + self._rank_offset())

        mode = "max" if self.config.monitor.endswith("accuracy") else "min"
        self.history = History()
        self.best = Best(mode)
        self.early = EarlyStopping(mode, self.config.patience, self.config.min_delta)
        self.epoch = 0  # epochs completed
        self._batch = 0  # batches completed in the current epoch (a stop mid-epoch)
        self._order: torch.Tensor | None = None
        self._partial: dict[str, float] | None = None
        self._seq = 0
        self._rows: list[dict[str, Any]] = []
        self._pending_state: dict[str, Any] | None = None
        self._started = False
        self._best_weights: dict[str, torch.Tensor] | None = None
        self._last_good: dict[str, torch.Tensor] | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.schedule: Schedule | None = None
        self.scaler: torch.amp.GradScaler | None = None
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        # The feature cache (features.py): a frozen prefix computed once per picture. Its files go to
        # feature_cache_dir (the project's cache/) when set, else they are kept in memory for the run.
        self.use_feature_cache = True
        self.feature_cache_dir: Path | None = None
        self.feature_plan = None
        self.feature_cache_speedup: float | None = None  # measured when augmentation keeps it off

    def _rank_offset(self) -> int:
        return 7919 * self.dist.rank if self.dist is not None else 0

    # ----- control from other threads -------------------------------------------------------
    @property
    def precision_label(self) -> str:
        return self.precision.label

    def request_stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused run must wake up to stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def _wait_if_paused(self) -> float:
        """Block while paused; returns the seconds spent waiting."""
        if self._running.is_set():
            return 0.0
        start = time.perf_counter()
        self._running.wait()
        return time.perf_counter() - start

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

    # ----- the loop -----------------------------------------------------------------------------
    def _setup(self, batches: int) -> None:
        if self.optimizer is not None:
            return
        params = trainable_parameters(self.model)
        if not params:
            raise UserError(
                "Every layer of this model is frozen, so there is nothing to train. Unfreeze a layer."
            )
        self.optimizer = build_optimizer(params, self.config)
        self.schedule = Schedule(self.optimizer, self.config, batches)
        if self.precision.grad_scaler:
            self.scaler = torch.amp.GradScaler(self.device.type)
        state = self._pending_state
        if state is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            self.schedule.load_state_dict(state["schedule"])
            if self.scaler is not None and state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            self._pending_state = None

    def _loss_fn(self, data: DeviceData) -> torch.nn.Module:
        weight = None
        if self.config.balance_classes:
            weight = balanced_class_weights(data.class_counts(len(self.class_names))).to(self.device)
        return torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=self.config.label_smoothing)

    @torch.inference_mode()
    def _evaluate(self, data: DeviceData) -> tuple[float, float]:
        if self.dist is None:
            return self._evaluate_sums(data)
        # a distributed run: each process evaluated its share (fit); sums and counts are added up
        loss_mean, acc = self._evaluate_sums(data)
        total, correct, n = distributed.all_reduce_sums([loss_mean * data.n, acc * data.n, data.n], self.device)
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
                **({"distributed": distributed.describe(self.dist, self.config.batch_size)} if self.dist else {}),
            },
        )

    def _sync_history_best(self) -> None:
        self.history.best_epoch, self.history.best_value = self.best.epoch, self.best.value

    def fit(self, train, val=None) -> History:
        """Train to `config.epochs` epochs (continuing where an earlier fit or a resumed run stopped).

        `train` and `val` are (X uint8 (N, C, H, W) ndarray / memmap / tensor, y int64 (N,)).
        Returns the History; a NaN loss or running out of memory ends the run with history.error
        set (a UserError in plain words) instead of raising. Other errors are raised, after
        state.json says "crashed" and the callbacks' on_exception and on_train_end ran.
        """
        cfg = self.config
        num_classes = len(self.class_names)
        train_data = DeviceData(train[0], train[1], self.device, num_classes, "training")
        if len(train_data) == 0:
            raise UserError("There are no training images.")
        val_data = None
        val_n = len(val[1]) if val is not None else 0
        if val is not None and len(val[1]):
            if self.dist is not None:  # each process validates its share; _evaluate adds them up
                part = distributed.val_shard(len(val[1]), self.dist)
                val = (val[0][part], val[1][part])
            val_data = DeviceData(val[0], val[1], self.device, num_classes, "validation")
        shard = distributed.shard_size(len(train_data), self.dist) if self.dist is not None else None
        batches = train_data.num_batches(cfg.batch_size, n=shard)
        self._setup(batches)
        if self.dist is not None and self._ddp is None:
            self._ddp = distributed.wrap_model(self.model, self.device)
        key = monitored_key(cfg.monitor, val_data is not None)
        self.history.monitor = key
        self.feature_plan = plan_features(self, train_data)
        if self.feature_plan is not None:
            train_data, val_data = self.feature_plan.wrap(train_data, val_data)
        net, prep = feature_inputs(train_data, self.model, self.preprocessing)
        step = TrainStep(
            self._ddp if self._ddp is not None else net,  # no feature cache in distributed runs
            self.optimizer,
            preprocessing=prep,
            plan=self.precision,
            device=self.device,
            augment=cfg.augment,
            generator=self.generator,
            loss_fn=self._loss_fn(train_data),
            regularization=regularization_of(self.model),
            scaler=self.scaler,
        )
        callbacks = CallbackList(self.callbacks, self)
        fresh = not self._started
        if fresh:
            # dropout's stream; shuffling and augmentation use self.generator
            torch.manual_seed(cfg.seed + self._rank_offset())
            self._started = True
        self._write_config(len(train_data), val_n)
        if fresh:
            self._checkpoint(0)  # a run killed in its first epoch can still resume and load
        self._write_state("running")
        deterministic = torch.are_deterministic_algorithms_enabled()
        warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        if self.device.type == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
        status, reason, message, error = "finished", "completed", "", None
        try:
            callbacks.call(
                "on_train_begin",
                {
                    "epochs": cfg.epochs,
                    "initial_epoch": self.epoch,
                    "batches": batches,
                    "train_images": len(train_data),
                    "val_images": val_n,
                    "device": str(self.device),
                    "precision": self.precision.label,
                    "run_dir": str(self.run_dir) if self.run_dir is not None else None,
                },
            )
            while self.epoch < cfg.epochs:
                if self._stop.is_set():
                    status, reason = "stopped", "user"
                    break
                outcome = self._run_epoch(step, train_data, val_data, batches, key, callbacks)
                if outcome is not None:
                    status, reason = outcome
                    break
            if cfg.early_stopping and cfg.restore_best and self._best_weights is not None:
                ckpt.load_state_into(self.model, self._best_weights, "the best checkpoint")
            message = self._end_message(status, reason)
        except Unstable as exc:
            message = f"{unstable_message(exc.epoch, exc.value)} {self._kept_message()}"
            status, reason, error = "crashed", "unstable", TrainingFailed(message, "unstable")
            self._back_to_last_good()
        except Exception as exc:
            if not is_out_of_memory(exc):
                self._fail(callbacks, exc, deterministic, warn_only)
                raise
            message = f"{out_of_memory_message(cfg.batch_size)} {self._kept_message()}"
            status, reason, error = "crashed", "out_of_memory", TrainingFailed(message, "out_of_memory")
            self.optimizer.zero_grad(set_to_none=True)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            self._back_to_last_good()
        except BaseException as exc:  # KeyboardInterrupt: the last checkpoint stays; say so
            self._fail(callbacks, exc, deterministic, warn_only)
            raise
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        self.history.status, self.history.reason, self.history.message = status, reason, message.strip()
        self.history.error = error
        self._sync_history_best()
        self._write_state(status, reason, self.history.message)
        if error is not None:
            callbacks.call("on_exception", error)
        callbacks.call("on_train_end", self._end_logs())
        self._stop.clear()
        return self.history

    def _fail(
        self, callbacks: CallbackList, exc: BaseException, deterministic: bool, warn_only: bool
    ) -> None:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        interrupted = isinstance(exc, KeyboardInterrupt)
        message = "Interrupted." if interrupted else f"Training failed: {type(exc).__name__}: {exc}"
        message = f"{message} {self._kept_message()}".strip()
        self.history.status = "stopped" if interrupted else "crashed"
        self.history.reason = "user" if interrupted else "error"
        self.history.message = message
        self._sync_history_best()
        try:
            self._write_state(self.history.status, self.history.reason, message)
            callbacks.call("on_exception", exc)
            callbacks.call("on_train_end", self._end_logs())
        finally:
            self._stop.clear()

    def _end_logs(self) -> dict[str, Any]:
        h = self.history
        return {
            "status": h.status,
            "reason": h.reason,
            "message": h.message,
            "epochs_done": self.epoch,
            "monitor": h.monitor,
            "best_epoch": h.best_epoch,
            "best_value": h.best_value,
            "run_dir": str(self.run_dir) if self.run_dir is not None else None,
        }

    def _kept_message(self) -> str:
        if self.run_dir is None:
            return ""
        if self.epoch == 0 and self._batch == 0:
            return "The starting weights are kept as the last checkpoint."
        return f"The last good checkpoint (after epoch {self.epoch}) is kept."

    def _end_message(self, status: str, reason: str) -> str:
        if reason == "early_stopping":
            restored = " The best weights were restored." if self.config.restore_best else ""
            return (
                f"Stopped early after epoch {self.epoch}: {self.history.monitor} did not improve for "
                f"{self.early.wait} epochs (best at epoch {(self.best.epoch or 0) + 1}).{restored}"
            )
        if status == "stopped":
            if self._batch:
                return (
                    f"Stopped during epoch {self.epoch + 1} after {self._batch} batches; the weights at that "
                    "point are saved as the last checkpoint, and resuming continues from there."
                )
            return f"Stopped after epoch {self.epoch}."
        return f"Finished {self.epoch} epochs."

    def _back_to_last_good(self) -> None:
        if self._last_good is not None:
            ckpt.load_state_into(self.model, self._last_good, "the last good checkpoint")

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

    # ----- conveniences ---------------------------------------------------------------------------
    def lr_find(self, train, **kwargs):
        """The LR range test on a copy of this trainer's model (see `lr_finder.lr_find`)."""
        from cnnstudio.core.train.lr_finder import lr_find

        return lr_find(
            self.model,
            train,
            preprocessing=self.preprocessing,
            config=self.config,
            device=self.device,
            num_classes=len(self.class_names),
            **kwargs,
        )

    def evaluate(self, X, y) -> tuple[float, float]:
        """(loss, accuracy) of the current weights on (X uint8, y), in float32."""
        return self._evaluate(DeviceData(X, y, self.device, len(self.class_names), "evaluation"))
