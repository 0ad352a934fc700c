"""The callback protocol (Keras' names and arguments) and `History`, what `Trainer.fit` returns.

Order of calls in a run: on_train_begin(logs), then per epoch on_epoch_begin(epoch, logs),
on_batch_end(batch, logs) after each batch, on_epoch_end(epoch, logs); at the end on_train_end(logs)
(always, also after a stop, an early stop or a failure). When training fails, on_exception(error)
comes before on_train_end. on_phase(logs) reports work before an epoch's batches (the feature
cache's "Computing features", {phase, done, total}; a last call has "finished").

Epoch and batch numbers are counted from 0, as in Keras (`epoch + 1` is what a person reads).

Batch logs: {epoch, batch, batches, loss, accuracy, lr, images_per_s}; loss and accuracy are the
running means over the epoch so far (Keras' convention), images_per_s over the epoch so far.
Epoch logs: {epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds, images_per_s}; val_* are
None without a validation split; seconds is the epoch's wall time (pauses excluded), images_per_s
counts the training pass only.

A callback may be any object: methods it lacks are skipped. Subclassing `Callback` gives no-ops
and `self.trainer`, set before on_train_begin, so a callback can call `self.trainer.request_stop()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cnnstudio.core.errors import UserError

HOOKS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_batch_end",
    "on_epoch_end",
    "on_train_end",
    "on_exception",
    "on_phase",
)


class TrainerControl(Protocol):
    """What a callback may do with `self.trainer` (a `Trainer`, which does not need importing here:
    trainer.py imports this module, never the other way round)."""

    def request_stop(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    @property
    def paused(self) -> bool: ...

    @property
    def stop_requested(self) -> bool: ...


class Callback:
    trainer: TrainerControl | None = None

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        pass

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        pass

    def on_train_end(self, logs: dict[str, Any]) -> None:
        pass

    def on_exception(self, error: BaseException) -> None:
        pass

    def on_phase(self, logs: dict[str, Any]) -> None:
        """Work before the batches: {"phase": "Computing features", "done", "total"} (the feature cache)."""


class CallbackList:
    """Calls a hook on every callback that has it; looks the methods up once, not per batch."""

    def __init__(self, callbacks, trainer: TrainerControl | None = None):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if trainer is not None:
                try:
                    cb.trainer = trainer
                except AttributeError:  # objects with __slots__ or read-only attributes
                    pass
        self._hooks = {name: [m for cb in self.callbacks if (m := getattr(cb, name, None))] for name in HOOKS}
        self.wants_batches = bool(self._hooks["on_batch_end"])

    def call(self, name: str, *args) -> None:
        for method in self._hooks[name]:
            method(*args)


class History:
    """What happened in a run: each epoch's logs, how it ended, and why.

    status is "finished", "stopped" (asked to stop) or "crashed" (the training failed); reason is
    "completed", "early_stopping", "user", "unstable" (NaN or infinite loss), "out_of_memory" or
    "error". For a failure with a plain-words cause (unstable, out of memory), `error` holds a
    UserError with `message`: the CLI raises it, the GUI shows it. The run folder, when there is
    one, says the same in state.json.
    """

    def __init__(self) -> None:
        self.epochs: list[dict[str, Any]] = []
        self.status = "running"
        self.reason = ""
        self.message = ""
        self.error: UserError | None = None
        self.best_epoch: int | None = None
        self.best_value: float | None = None
        self.monitor = ""

    @property
    def history(self) -> dict[str, list]:
        """Keras' layout: {"loss": [...], "val_loss": [...], ...}, one value per epoch."""
        keys = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "images_per_s")
        return {k: [e.get(k) for e in self.epochs] for k in keys}

    @property
    def stopped_early(self) -> bool:
        return self.reason == "early_stopping"

    @property
    def ok(self) -> bool:
        return self.status in ("finished", "stopped")

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "monitor": self.monitor,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "epochs": list(self.epochs),
        }

    def __repr__(self) -> str:
        return f"History(status={self.status!r}, reason={self.reason!r}, epochs={len(self.epochs)})"
