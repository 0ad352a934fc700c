"""What a search varies, in plain words: each setting as a range or a list, and how a trial's values
change the model design and the training settings.

The settings a search can vary (`PARAMS`, by name):

- learning_rate: a range (searched on a log scale by default), or a list;
- batch_size, dense_units, train_blocks: a list of whole numbers, or a range of them;
- optimizer: a list of names (adam, adamw, sgd, rmsprop);
- dropout: the rate of every Dropout layer of the design (a range or a list);
- augmentation: a strength that scales the mild default augmentation (1 = the default, 0 = none);
- filters: a multiplier of every Conv2D layer's number of filters (0.5, 1, 2: half, same, double);
- dense_units: the width of every Dense layer but the last one (whose "auto" is the classes);
- train_blocks: how many of a pre-trained backbone's last blocks are trained (the rest stay frozen).

A search space file (`--space FILE`) is JSON with these names as keys; a value is a list of choices,
{"min": a, "max": b} (optionally "log": true or false), or one fixed value:

    {"learning_rate": {"min": 0.0001, "max": 0.01}, "batch_size": [16, 32, 64],
     "optimizer": ["adam", "sgd"], "dropout": {"min": 0.1, "max": 0.5}}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.errors import UserError

if TYPE_CHECKING:
    from cnnstudio.core.spec import ModelSpec
    from cnnstudio.core.train import TrainConfig

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


@dataclass(frozen=True)
class ParamInfo:
    """What one searchable setting is: its words, its kind, its limits and a sensible default."""

    name: str
    label: str  # what a person reads
    help: str
    kind: str  # "float" | "int" | "str"
    low: float | None  # the smallest value that makes sense (None: no limit)
    high: float | None
    default: dict[str, Any] | list  # the default range or list when switched on
    log: bool = False  # a range of this setting is searched on a log scale by default
    needs: str | None = None  # the layer type the design must have ("Dropout", "Conv2D", ...)


PARAMS: dict[str, ParamInfo] = {
    p.name: p
    for p in (
        ParamInfo(
            "learning_rate",
            "Learning rate",
            "How big a step each batch takes; too high and training goes wild, too low and it crawls.",
            "float",
            1e-7,
            1.0,
            {"min": 1e-4, "max": 1e-2},
            log=True,
        ),
        ParamInfo(
            "batch_size",
            "Batch size",
            "How many pictures the model sees before each step.",
            "int",
            1,
            4096,
            [16, 32, 64],
        ),
        ParamInfo(
            "optimizer",
            "Optimizer",
            "The method that turns the errors into weight changes.",
            "str",
            None,
            None,
            ["adam", "sgd"],
        ),
        ParamInfo(
            "dropout",
            "Dropout rate",
            "The share of numbers every Dropout layer switches off while training.",
            "float",
            0.0,
            0.95,
            {"min": 0.1, "max": 0.5},
            needs="Dropout",
        ),
        ParamInfo(
            "augmentation",
            "Augmentation strength",
            "How strongly pictures are randomly changed while training (1 = the usual mild changes, 0 = none).",
            "float",
            0.0,
            5.0,
            {"min": 0.0, "max": 2.0},
        ),
        ParamInfo(
            "filters",
            "Filters (x the design's)",
            "Multiplies the number of filters of every convolution (0.5 = half, 2 = double).",
            "float",
            0.05,
            16.0,
            [0.5, 1.0, 2.0],
            needs="Conv2D",
        ),
        ParamInfo(
            "dense_units",
            "Dense units",
            "The width of every Dense layer except the last one (which has one output per class).",
            "int",
            1,
            65536,
            [64, 128, 256],
            needs="Dense",
        ),
        ParamInfo(
            "train_blocks",
            "Backbone blocks trained",
            "How many of the pre-trained backbone's last blocks learn; the others stay frozen.",
            "int",
            0,
            64,
            [0, 1, 2],
            needs="Backbone",
        ),
    )
}
ALIASES = {
    "lr": "learning_rate",
    "dropout_rate": "dropout",
    "augmentation_strength": "augmentation",
    "augment": "augmentation",
    "filters_multiplier": "filters",
    "units": "dense_units",
    "trained_blocks": "train_blocks",
}


@dataclass(frozen=True)
class Param:
    """One searched setting: a list of `values`, or a range from `low` to `high`."""

    name: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False

    @property
    def info(self) -> ParamInfo:
        return PARAMS[self.name]

    @property
    def is_range(self) -> bool:
        return self.values is None

    def to_json(self) -> Any:
        if self.values is not None:
            return list(self.values)
        return {"min": self.low, "max": self.high, "log": self.log}

    def describe(self) -> str:
        """'Learning rate from 0.0001 to 0.01 (log scale)' or 'Batch size: 16, 32 or 64'."""
        label = self.info.label
        if self.values is not None:
            words = [_fmt(v) for v in self.values]
            if len(words) == 1:
                return f"{label}: {words[0]}"
            return f"{label}: {', '.join(words[:-1])} or {words[-1]}"
        scale = " (log scale)" if self.log else ""
        return f"{label} from {_fmt(self.low)} to {_fmt(self.high)}{scale}"

    def grid_values(self, points: int = 3) -> list[Any]:
        """The values a grid search tries: the list, or `points` values spread over the range."""
        if self.values is not None:
            return list(self.values)
        assert self.low is not None and self.high is not None
        if points <= 1 or self.low == self.high:
            return [self.low]
        if self.log:
            a, b = math.log(self.low), math.log(self.high)
            raw = [math.exp(a + (b - a) * i / (points - 1)) for i in range(points)]
            raw = [float(f"{v:.3g}") for v in raw]  # 0.001, 0.00316, 0.01: numbers a person can read
        else:
            raw = [self.low + (self.high - self.low) * i / (points - 1) for i in range(points)]
            raw = [round(v, 6) for v in raw]
        if self.info.kind == "int":
            raw = [int(round(v)) for v in raw]
        return list(dict.fromkeys(raw))  # unique, in order

    def suggest(self, trial, grid: bool = False, points: int = 3) -> Any:
        """The value for an Optuna trial (a categorical choice on a grid, so the grid sampler sees it)."""
        if grid or self.values is not None:
            values = self.grid_values(points)
            return values[0] if len(values) == 1 else trial.suggest_categorical(self.name, values)
        if self.info.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _check_value(info: ParamInfo, value: Any) -> Any:
    """The value in its proper type, or UserError in plain words."""
    if info.kind == "str":
        if not isinstance(value, str) or value not in OPTIMIZERS:
            raise UserError(
                f"{info.label}: {value!r} is not an optimizer; choose among {', '.join(OPTIMIZERS)}."
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UserError(f"{info.label}: {value!r} is not a number.")
    if info.kind == "int":
        if value != int(value):
            raise UserError(f"{info.label} must be a whole number ({value!r} is not).")
        value = int(value)
    else:
        value = float(value)
    if info.low is not None and value < info.low:
        raise UserError(f"{info.label} must be at least {_fmt(info.low)} ({_fmt(value)} is too small).")
    if info.high is not None and value > info.high:
        raise UserError(f"{info.label} must be at most {_fmt(info.high)} ({_fmt(value)} is too large).")
    return value


def make_param(name: str, raw: Any) -> Param:
    """A Param from its JSON form: a list, {"min", "max"[, "log"]}, {"values": [...]}, or one value."""
    name = ALIASES.get(name, name)
    if name not in PARAMS:
        raise UserError(f"A search cannot vary {name!r}; it can vary: {', '.join(PARAMS)}.")
    info = PARAMS[name]
    if isinstance(raw, dict) and "values" in raw:
        raw = raw["values"]
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - {"min", "max", "log"})
        if unknown or "min" not in raw or "max" not in raw:
            raise UserError(
                f'{info.label}: a range is written {{"min": ..., "max": ...}} (optionally "log": true).'
            )
        if info.kind == "str":
            raise UserError(f"{info.label} is a choice, not a range: give a list such as {info.default}.")
        low, high = _check_value(info, raw["min"]), _check_value(info, raw["max"])
        if low > high:
            raise UserError(f"{info.label}: the smallest value ({low}) is above the largest ({high}).")
        log = bool(raw.get("log", info.log))
        if log and low <= 0:
            raise UserError(f"{info.label}: a log-scale range must start above 0.")
        if low == high:
            return Param(name, values=(low,))
        return Param(name, low=low, high=high, log=log)
    values = raw if isinstance(raw, list | tuple) else [raw]
    if not values:
        raise UserError(f"{info.label}: the list of values is empty.")
    checked = list(dict.fromkeys(_check_value(info, v) for v in values))
    return Param(name, values=tuple(checked))


@dataclass
class SearchSpace:
    """The searched settings by name, in the order of PARAMS."""

    params: dict[str, Param] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.params = {name: self.params[name] for name in PARAMS if name in self.params}

    def __len__(self) -> int:
        return len(self.params)

    def __contains__(self, name: str) -> bool:
        return name in self.params

    @property
    def searched(self) -> list[Param]:
        """The params that really vary (more than one value)."""
        return [p for p in self.params.values() if p.is_range or len(p.values or ()) > 1]

    def to_dict(self) -> dict[str, Any]:
        return {name: p.to_json() for name, p in self.params.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpace:
        if not isinstance(data, dict):
            raise UserError(
                'A search space is a JSON object, such as {"learning_rate": {"min": 0.0001, "max": 0.01}}.'
            )
        params = [make_param(name, raw) for name, raw in data.items()]
        return cls({p.name: p for p in params})

    @classmethod
    def load(cls, path: Path | str) -> SearchSpace:
        from cnnstudio.core.jsonfile import read_json_file

        data = read_json_file(path, "search space file")
        return cls.from_dict(data)

    def save(self, path: Path | str) -> None:
        from cnnstudio.core.atomic import write_bytes_atomic

        write_bytes_atomic(Path(path), (json.dumps(self.to_dict(), indent=2) + "\n").encode("utf-8"))

    def describe(self) -> list[str]:
        return [p.describe() for p in self.params.values()]

    def grid(self, points: int = 3) -> dict[str, list[Any]]:
        """name -> the values a grid search tries."""
        return {p.name: p.grid_values(points) for p in self.params.values()}

    def grid_size(self, points: int = 3) -> int:
        return math.prod(len(v) for v in self.grid(points).values()) if self.params else 1

    def suggest(self, trial, grid: bool = False, points: int = 3) -> dict[str, Any]:
        return {p.name: p.suggest(trial, grid, points) for p in self.params.values()}

    def for_design(self, spec: ModelSpec) -> tuple[SearchSpace, list[str]]:
        """The part of this space that applies to `spec`, and notes (plain words) on what was left out."""
        types = {layer.type for layer in spec.layers}
        kept, notes = {}, []
        for name, param in self.params.items():
            needs = param.info.needs
            if needs is not None and needs not in types:
                notes.append(f"{param.info.label} is not searched: the design has no {needs} layer.")
                continue
            if name == "dense_units" and not _hidden_dense(spec):
                notes.append(
                    f"{param.info.label} is not searched: the design has no Dense layer before the last."
                )
                continue
            kept[name] = param
        return SearchSpace(kept), notes


def default_space(spec: ModelSpec | None = None) -> SearchSpace:
    """A good first search: the learning rate and the batch size, and the dropout rate when the
    design has Dropout layers (the backbone's trained blocks when it has a backbone)."""
    names = ["learning_rate", "batch_size"]
    if spec is not None:
        types = {layer.type for layer in spec.layers}
        if "Dropout" in types:
            names.append("dropout")
        if "Backbone" in types:
            names.append("train_blocks")
    return SearchSpace({n: make_param(n, PARAMS[n].default) for n in names})


def _hidden_dense(spec: ModelSpec) -> list[int]:
    """Indexes of the Dense layers with a set width (the last, 'auto', gives one output per class)."""
    dense = [i for i, layer in enumerate(spec.layers) if layer.type == "Dense"]
    return [i for i in dense if spec.layers[i].units != "auto" and i != dense[-1]]


def scaled_augment(strength: float, base=None):
    """AugmentConfig.default() scaled by `strength` (flips as in `base`), kept within each limit."""
    from cnnstudio.core.train import AugmentConfig

    d = AugmentConfig.default()
    s = max(0.0, float(strength))
    return AugmentConfig(
        hflip=bool(base.hflip) if base is not None else False,
        vflip=bool(base.vflip) if base is not None else False,
        rotation=min(180.0, d.rotation * s),
        zoom=min(0.9, d.zoom * s),
        translate=min(1.0, d.translate * s),
        brightness=d.brightness * s,
        contrast=min(0.9, d.contrast * s),
    )


def apply_params(
    spec: ModelSpec, config: TrainConfig, params: dict[str, Any]
) -> tuple[ModelSpec, TrainConfig]:
    """The design and training settings of a trial: copies of `spec` and `config` with `params` applied."""
    from cnnstudio.core.train import TrainConfig

    config = TrainConfig.from_dict(config.to_dict())  # a deep copy
    layers = list(spec.layers)
    hidden = set(_hidden_dense(spec))
    for name, value in params.items():
        if name == "learning_rate":
            config.lr = float(value)
        elif name == "batch_size":
            config.batch_size = int(value)
        elif name == "optimizer":
            config.optimizer = str(value)
            if config.optimizer != "sgd":
                config.nesterov = False
        elif name == "augmentation":
            config.augment = scaled_augment(value, config.augment)
        elif name == "dropout":
            layers = [_set(layer, "Dropout", rate=float(value)) for layer in layers]
        elif name == "filters":
            layers = [
                layer.replace(filters=max(1, int(round(layer.filters * float(value)))))
                if layer.type == "Conv2D"
                else layer
                for layer in layers
            ]
        elif name == "dense_units":
            layers = [
                layer.replace(units=int(value)) if i in hidden else layer for i, layer in enumerate(layers)
            ]
        elif name == "train_blocks":
            layers = [
                layer.replace(train_blocks=min(int(value), len(layer.info.blocks)))
                if layer.type == "Backbone"
                else layer
                for layer in layers
            ]
        else:
            raise UserError(f"A search cannot vary {name!r}.")
    return replace(spec, layers=layers), config


def _set(layer, type_name: str, **changes):
    return layer.replace(**changes) if layer.type == type_name else layer
