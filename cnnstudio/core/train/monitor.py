"""Which epoch is best, and when to stop early; both resumable (state_dict / load_state_dict)."""

from __future__ import annotations

from typing import Any


def monitored_key(monitor: str, has_val: bool) -> str:
    """The log key to watch: without a validation split, val_loss -> loss, val_accuracy -> accuracy."""
    return monitor if has_val else monitor.removeprefix("val_")


class Best:
    """The best value so far (strictly better counts): picks best.safetensors."""

    def __init__(self, mode: str):
        self.mode = mode
        self.value: float | None = None
        self.epoch: int | None = None

    def better(self, value: float, than: float | None, min_delta: float = 0.0) -> bool:
        if than is None:
            return True
        return value < than - min_delta if self.mode == "min" else value > than + min_delta

    def update(self, value: float, epoch: int) -> bool:
        if self.better(value, self.value):
            self.value, self.epoch = value, epoch
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value, self.epoch = state.get("value"), state.get("epoch")


class EarlyStopping(Best):
    """Keras' rule: stop after `patience` epochs without an improvement larger than `min_delta`.

    Also the early-stopping callback (Keras', Lightning's): with `monitor` set to the log key to
    watch, `on_epoch_end` applies the rule and `triggered` says the run ends after this epoch.
    """

    def __init__(self, mode: str, patience: int, min_delta: float):
        super().__init__(mode)
        self.patience = patience
        self.min_delta = min_delta
        self.wait = 0
        self.monitor = ""
        self.triggered = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.triggered = self.should_stop(logs[self.monitor], epoch)

    def should_stop(self, value: float, epoch: int) -> bool:
        if self.better(value, self.value, self.min_delta):
            self.value, self.epoch, self.wait = value, epoch, 0
            return False
        self.wait += 1
        return self.wait >= max(1, self.patience)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.wait = int(state.get("wait", 0))
