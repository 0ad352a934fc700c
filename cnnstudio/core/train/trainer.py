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

The class is split along its seams: this module holds setup, control and `fit`; the epoch loop and
the validation pass are in epoch_loop.py (`EpochLoopMixin`), checkpoints, the run folder's files
and `resume_run` in run_state.py (`RunStateMixin`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import torch

from cnnstudio.core.errors import UserError
from cnnstudio.core.train import checkpoints as ckpt
from cnnstudio.core.train import distributed
from cnnstudio.core.train.callbacks import CallbackList, History
from cnnstudio.core.train.config import TrainConfig
from cnnstudio.core.train.data import DeviceData
from cnnstudio.core.train.device import configure_threads, resolve_device, resolve_precision
from cnnstudio.core.train.epoch_loop import EpochLoopMixin
from cnnstudio.core.train.failures import (
    TrainingFailed,
    Unstable,
    is_out_of_memory,
    out_of_memory_message,
    unstable_message,
)
from cnnstudio.core.train.features import feature_inputs, plan_features
from cnnstudio.core.train.memory_format import use_channels_last
from cnnstudio.core.train.monitor import Best, EarlyStopping, monitored_key
from cnnstudio.core.train.optim import Schedule, balanced_class_weights, build_optimizer, trainable_parameters
from cnnstudio.core.train.run_state import RunStateMixin
from cnnstudio.core.train.spec_bridge import build_from_spec, is_spec, regularization_of
from cnnstudio.core.train.step import TrainStep


class Trainer(RunStateMixin, EpochLoopMixin):
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
