"""How a search runs: the strategy, the metric it optimises, the epochs per trial and pruning.

Everything here is fixed when a study is created (stored in the study), so that all its trials are
comparable; only the budget (trials, minutes) changes when a study is continued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnstudio.core.errors import UserError
from cnnstudio.core.search.space import SearchSpace, default_space

SETTINGS_VERSION = 1


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    direction: str  # "maximize" | "minimize"
    monitor: str  # what the trainer keeps the best checkpoint by

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "maximize"

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("val_accuracy", "Validation accuracy", "maximize", "val_accuracy"),
        Metric("macro_f1", "Validation macro F1", "maximize", "val_accuracy"),
        Metric("val_loss", "Validation loss", "minimize", "val_loss"),
    )
}

# name -> words a person reads
STRATEGIES: dict[str, str] = {
    "smart": "Smart (learns from earlier trials)",
    "random": "Random",
    "grid": "Every combination (grid)",
}
PRUNING: dict[str, str] = {
    "halving": "Stop worse trials early (after 1, 3, 9... epochs)",
    "median": "Stop trials below the median (gentle)",
    "none": "Never stop a trial early",
}


@dataclass
class SearchSettings:
    """`grid_points`: how many values of a range a grid search tries. `prune_after`: trials that run
    in full before the median rule may stop one (successive halving needs none)."""

    space: SearchSpace = field(default_factory=default_space)
    strategy: str = "smart"
    metric: str = "val_accuracy"
    epochs: int = 5
    pruning: str = "halving"
    grid_points: int = 3
    prune_after: int = 3
    seed: int = 0

    @property
    def metric_info(self) -> Metric:
        return METRICS[self.metric]

    def validate(self) -> None:
        if self.strategy not in STRATEGIES:
            raise UserError(
                f"Unknown search strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}."
            )
        if self.metric not in METRICS:
            raise UserError(f"Unknown metric {self.metric!r}; choose one of {', '.join(METRICS)}.")
        if self.pruning not in PRUNING:
            raise UserError(f"Unknown pruning {self.pruning!r}; choose one of {', '.join(PRUNING)}.")
        for name in ("epochs", "grid_points"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"'{name}' must be a whole number of at least 1.")
        if (
            isinstance(self.prune_after, bool)
            or not isinstance(self.prune_after, int)
            or self.prune_after < 0
        ):
            raise UserError("'prune_after' must be a whole number, 0 or more.")
        if not self.space.searched:
            raise UserError("Choose at least one setting for the search to vary (with two values or more).")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SETTINGS_VERSION,
            "space": self.space.to_dict(),
            "strategy": self.strategy,
            "metric": self.metric,
            "epochs": self.epochs,
            "pruning": self.pruning,
            "grid_points": self.grid_points,
            "prune_after": self.prune_after,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSettings:
        data = dict(data)
        data.pop("schema_version", None)  # version 1 is the only one so far
        space = SearchSpace.from_dict(data.pop("space", {}))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(space=space, **known)

    def describe(self) -> list[str]:
        """The settings in plain words, one line each."""
        return [
            f"Strategy: {STRATEGIES[self.strategy]}",
            f"Optimising: {self.metric_info.label} ({'higher' if self.metric_info.higher_is_better else 'lower'} is better)",
            f"Epochs per trial: {self.epochs}",
            f"Pruning: {PRUNING[self.pruning]}",
            *self.space.describe(),
        ]
