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

The Trainer is built from parts that own their state (as PyTorch Lightning's are): `self.loop`
(epoch_loop.py's `EpochLoop`: the epoch loop, validation and the position in training),
`self.run` (run_state.py's `RunState`: history, best value, metrics rows, checkpoints and the run
folder's files; also the checkpoint-saving callback) and `self.early` (monitor.py's
`EarlyStopping`, the early-stopping callback). This module holds setup, control, `fit`, what a
checkpoint holds and `resume_run`.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import torch

from cnnstudio.core.errors import UserError
from cnnstudio.core.runs.files import CONFIG_FILE, read_json
from cnnstudio.core.train import checkpoints as ckpt
from cnnstudio.core.train import distributed
from cnnstudio.core.train.callbacks import CallbackList, History
from cnnstudio.core.train.config import TrainConfig
from cnnstudio.core.train.data import DeviceData
from cnnstudio.core.train.device import configure_threads, resolve_device, resolve_precision
from cnnstudio.core.train.epoch_loop import EpochLoop
from cnnstudio.core.train.failures import (
    TrainingFailed,
    Unstable,
    is_out_of_memory,
    out_of_memory_message,
    unstable_message,
)
from cnnstudio.core.train.features import feature_inputs, plan_features, speedup_logs
from cnnstudio.core.train.memory_format import use_channels_last
from cnnstudio.core.train.monitor import EarlyStopping, monitored_key
from cnnstudio.core.train.optim import Schedule, balanced_class_weights, build_optimizer, trainable_parameters
from cnnstudio.core.train.run_state import RunState
from cnnstudio.core.train.spec_bridge import (
    build_from_spec,
    is_spec,
    preprocessing_from_dict,
    regularization_of,
)
from cnnstudio.core.train.step import TrainStep
from cnnstudio.core.words import plural


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
        self.run = RunState(self.run_dir, mode, train_state=self._train_state, position=self._position)
        self.early = EarlyStopping(mode, self.config.patience, self.config.min_delta)
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self.loop = EpochLoop(
            self.model,
            self.config,
            preprocessing=self.preprocessing,
            device=self.device,
            generator=self.generator,
            dist=self.dist,
            should_stop=self._stop.is_set,
            wait_if_paused=self._wait_if_paused,
            add_row=self.run.add_row,
        )
        self._pending_state: dict[str, Any] | None = None  # a resumed run's optimizer, schedule, scaler
        self._started = False
        self.optimizer: torch.optim.Optimizer | None = None
        self.schedule: Schedule | None = None
        self.scaler: torch.amp.GradScaler | None = None
        # The feature cache (features.py): a frozen prefix computed once per picture. Its files go to
        # feature_cache_dir (the project's cache/) when set, else they are kept in memory for the run.
        self.use_feature_cache = True
        self.feature_cache_dir: Path | None = None
        self.feature_plan = None
        self.feature_cache_speedup: float | None = None  # measured when augmentation keeps it off

    def _rank_offset(self) -> int:
        return 7919 * self.dist.rank if self.dist is not None else 0

    @property
    def history(self) -> History:
        return self.run.history

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return self.loop.epoch

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
            if self.dist is not None:  # each process validates its share; the loop adds them up
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
        # the early stop and the checkpoints first, so the callbacks given find the run folder up to date
        internal = [self.early] if cfg.early_stopping else []
        self.early.monitor, self.early.triggered = key, False
        callbacks = CallbackList([*internal, self.run, *self.callbacks], self)
        fresh = not self._started
        if fresh:
            # dropout's stream; shuffling and augmentation use self.generator
            torch.manual_seed(cfg.seed + self._rank_offset())
            self._started = True
        self.run.write_config(self, len(train_data), val_n)
        if fresh:  # a run killed in its first epoch can still resume and load
            self.run.save_checkpoint(self.run.finite_weights(self.model, 0))
        self.run.write_state("running")
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
                logs = self.loop.run(
                    step, self.optimizer, self.schedule, train_data, val_data, batches, callbacks
                )
                if logs is None:  # a stop: save the work done, also in the middle of an epoch
                    self.run.save_checkpoint(self.run.finite_weights(self.model, self.epoch))
                    status, reason = "stopped", "user"
                    break
                self._end_epoch(logs, key, callbacks)
                if self.early.triggered:
                    status, reason = "finished", "early_stopping"
                    break
            if cfg.early_stopping and cfg.restore_best and self.run.best_weights is not None:
                ckpt.load_state_into(self.model, self.run.best_weights, "the best checkpoint")
            message = self._end_message(status, reason)
        except Unstable as exc:
            message = f"{unstable_message(exc.epoch, exc.value)} {self._kept_message()}"
            status, reason, error = "crashed", "unstable", TrainingFailed(message, "unstable")
            self.run.back_to_last_good(self.model)
        except Exception as exc:
            if not is_out_of_memory(exc):
                self._fail(callbacks, exc, deterministic, warn_only)
                raise
            message = f"{out_of_memory_message(cfg.batch_size)} {self._kept_message()}"
            status, reason, error = "crashed", "out_of_memory", TrainingFailed(message, "out_of_memory")
            self.optimizer.zero_grad(set_to_none=True)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            self.run.back_to_last_good(self.model)
        except BaseException as exc:  # KeyboardInterrupt: the last checkpoint stays; say so
            self._fail(callbacks, exc, deterministic, warn_only)
            raise
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        self.history.status, self.history.reason, self.history.message = status, reason, message.strip()
        self.history.error = error
        self.run.sync_best()
        self.run.write_state(status, reason, self.history.message)
        if error is not None:
            callbacks.call("on_exception", error)
        callbacks.call("on_train_end", self._end_logs())
        self._stop.clear()
        return self.history

    def _end_epoch(self, logs: dict[str, Any], key: str, callbacks: CallbackList) -> None:
        """After an epoch's batches and validation: check its weights, step the schedule, move on,
        and call on_epoch_end (the early stop and the run state's checkpoint first)."""
        epoch = self.epoch
        logs.update(speedup_logs(self))  # augmenting a cacheable model: how much faster without
        # before anything records this epoch as done
        self.run.epoch_weights = self.run.finite_weights(self.model, epoch)
        self.schedule.after_epoch(logs[key])
        self.loop.next_epoch()
        callbacks.call("on_epoch_end", epoch, dict(logs))

    def _fail(
        self, callbacks: CallbackList, exc: BaseException, deterministic: bool, warn_only: bool
    ) -> None:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        interrupted = isinstance(exc, KeyboardInterrupt)
        if interrupted:
            message = "Interrupted."
        elif isinstance(exc, UserError):  # already in words (a full disk, a damaged file)
            message = f"Training stopped: {exc}"
        else:
            message = f"Training failed: {type(exc).__name__}: {exc}"
        message = f"{message} {self._kept_message()}".strip()
        self.history.status = "stopped" if interrupted else "crashed"
        self.history.reason = "user" if interrupted else "error"
        self.history.message = message
        self.run.sync_best()
        try:
            self.run.write_state(self.history.status, self.history.reason, message)
            callbacks.call("on_exception", exc)
            callbacks.call("on_train_end", self._end_logs())
        finally:
            self._stop.clear()

    def _kept_message(self) -> str:
        return self.run.kept_message(self.epoch, self.loop.batch)

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

    def _end_message(self, status: str, reason: str) -> str:
        if reason == "early_stopping":
            restored = " The best weights were restored." if self.config.restore_best else ""
            return (
                f"Stopped early after epoch {self.epoch}: {self.history.monitor} did not improve for "
                f"{plural(self.early.wait, 'epoch')} (best at epoch {(self.run.best.epoch or 0) + 1}).{restored}"
            )
        if status == "stopped":
            if self.loop.batch:
                return (
                    f"Stopped during epoch {self.epoch + 1} after {self.loop.batch} batches; the weights at "
                    "that point are saved as the last checkpoint, and resuming continues from there."
                )
            return f"Stopped after epoch {self.epoch}."
        return f"Finished {plural(self.epoch, 'epoch')}."

    # ----- what a checkpoint holds, and resuming ------------------------------------------------
    def _train_state(self) -> dict[str, Any]:
        """The training state saved beside the weights (checkpoints.py; RunState adds format and seq)."""
        return {
            **self.loop.state_dict(),  # epoch, batch, order (None between epochs), partial
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": ckpt.rng_state(self.device, self.generator),
            "best": self.run.best.state_dict(),
            "early_stopping": self.early.state_dict(),
            "epoch_logs": [dict(e) for e in self.history.epochs],
            "precision": self.precision.name,
        }

    def _position(self) -> dict[str, Any]:
        """state.json's fields beside status and best."""
        return {
            "epochs_done": self.epoch,
            "epochs": self.config.epochs,
            "batch": self.loop.batch,
            "precision": self.precision.label,
            "device": str(self.device),
        }

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
        self.loop.load_state_dict(state)
        self.early.load_state_dict(state["early_stopping"])
        ckpt.set_rng_state(state["rng"], self.device, self.generator)
        self._pending_state = state
        self._started = True
        if self.dist is not None and self.loop.batch:
            # Stopped mid-epoch: its order is one process's share; a distributed run redoes that epoch.
            self.loop.restart_epoch()
        if self.dist is not None and not self.dist.is_rank0:  # the checkpoint holds rank 0's streams
            self.generator.manual_seed(self.config.seed + self._rank_offset() + self.epoch)
            torch.manual_seed(self.config.seed + self._rank_offset() + self.epoch)
        self.run.restore(ckpt.model_state_float32(self.model), state, self.epoch, self.loop.batch)

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
        return self.loop.evaluate(DeviceData(X, y, self.device, len(self.class_names), "evaluation"))
