"""One trial's parts: its design and settings, the callbacks that report each epoch to Optuna and
stop a pruned (or cancelled) trial, its final value, and the "pruned" mark on its run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.atomic import write_json_atomic
from cnnstudio.core.search.records import SearchEvent
from cnnstudio.core.search.space import apply_params

if TYPE_CHECKING:
    from cnnstudio.core.pipeline import PreparedData
    from cnnstudio.core.search.settings import SearchSettings
    from cnnstudio.core.spec import ModelSpec
    from cnnstudio.core.train import TrainConfig


class StopWatch:
    """Polls a caller's stop flag (a GUI task's Cancel) after every batch, so the trial stops at once."""

    def __init__(self, should_stop: Callable[[], bool]):
        self.should_stop = should_stop
        self.trainer = None  # set by the trainer

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        if self.should_stop():
            self.trainer.request_stop()


class TrialReporter:
    """A training callback: after each epoch, report the metric to Optuna and stop a pruned trial.

    `search` is the Search running the trial (its settings, `_emit` and `stop_requested`)."""

    def __init__(self, search, trial, data: PreparedData):
        self.search = search
        self.trial = trial
        self.metric = search.settings.metric
        self.epochs = search.settings.epochs
        self.val = data.splits["val"]
        self.class_names = data.class_names
        self.trainer = None  # set by the trainer
        self.pruned_at: int | None = None
        self.last_value: float | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        value = self._value(logs)
        self.last_value = value
        # Steps count epochs done (1, 2, ...), so successive halving's first rung (min_resource=1)
        # judges a trial after its first epoch.
        self.trial.report(value, epoch + 1)
        self.search._emit(SearchEvent("epoch", self.trial.number, epoch=epoch, value=value))
        if self.search.stop_requested():
            self.trainer.request_stop()
            return
        # Nothing is saved by pruning after the last epoch: the trial finishes and counts.
        if epoch + 1 < self.epochs and self.trial.should_prune():
            self.pruned_at = epoch
            self.trainer.request_stop()

    def _value(self, logs: dict[str, Any]) -> float:
        if self.metric != "macro_f1":
            return float(logs[self.metric])
        # The trainer logs accuracy and loss only: macro F1 needs the predictions (a pass over the
        # validation pictures with the current weights; eval mode, no weight or RNG changes).
        from cnnstudio.core.evaluate import predict_probabilities
        from cnnstudio.core.evaluate.metrics import per_class_metrics

        trainer = self.trainer
        probs = predict_probabilities(trainer.model, self.val.X, trainer.preprocessing, device=trainer.device)
        _, macro, _ = per_class_metrics(self.val.y, probs.argmax(1), len(self.class_names), self.class_names)
        return float(macro["f1"])


def trial_settings(
    spec: ModelSpec, config: TrainConfig, settings: SearchSettings, params: dict[str, Any]
) -> tuple[ModelSpec, TrainConfig]:
    """The design and training settings of a trial with `params` in a study of `spec`, `config`, `settings`."""
    spec, config = apply_params(spec, config, params)
    config.epochs = settings.epochs
    config.monitor = settings.metric_info.monitor
    return spec, config


def final_value(metric: str, report) -> float:
    if metric == "val_accuracy":
        return float(report.accuracy)
    if metric == "macro_f1":
        return float(report.macro["f1"])
    return float(report.losses.mean())


def mark_pruned(run_dir: Path, message: str) -> None:
    """state.json says "pruned": stopped by the search, not by a person or a failure."""
    import json

    path = Path(run_dir) / "state.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    state.update(status="pruned", reason="pruned", message=message)
    write_json_atomic(path, state)
