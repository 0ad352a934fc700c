"""Runs side by side: the settings that differ, the metrics, F1 per class, and the curves.

    comparison = compare_runs([run_a, run_b, run_c])
    for row in comparison.differing(): print(row.label, row.values)

Everything comes from the run folders: config.json (design, training settings, dataset), state.json,
metrics.csv (curves) and the evaluation_<split>.json files core.pipeline writes after training.
Reading metrics.csv goes through core.train (which imports torch): call this from a worker in a GUI.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnstudio.core.errors import UserError
from cnnstudio.core.runs.files import CONFIG_FILE, STATE_FILE, read_json_object, read_metrics
from cnnstudio.core.runs.records import run_state, run_title

# Training settings in the order a person reads them, with their words.
TRAIN_LABELS = {
    "optimizer": "Optimizer",
    "lr": "Learning rate",
    "batch_size": "Batch size",
    "epochs": "Epochs",
    "weight_decay": "Weight decay",
    "momentum": "Momentum",
    "label_smoothing": "Label smoothing",
    "schedule": "Learning-rate schedule",
    "monitor": "Best checkpoint by",
    "early_stopping": "Early stopping",
    "patience": "Patience",
    "balance_classes": "Balance classes",
    "precision": "Precision",
    "seed": "Seed",
}
AUGMENT_WORDS = {
    "rotation": "rotation {v:g}°",
    "zoom": "zoom {v:g}",
    "translate": "shift {v:g}",
    "brightness": "brightness {v:g}",
    "contrast": "contrast {v:g}",
}
MONITOR_WORDS = {"val_accuracy": "validation accuracy", "val_loss": "validation loss"}
CURVE_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")


@dataclass
class RunColumn:
    name: str
    path: Path
    state: str
    created: str
    trial: str | None = None  # "study t3" for a search trial
    title: str = ""  # a short name: the trial, or the label after the start time


@dataclass
class SettingRow:
    key: str
    label: str
    values: list[str]

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


@dataclass
class MetricRow:
    key: str
    label: str
    values: list[float | None]
    higher_is_better: bool | None = True  # None: neither (times, counts)
    kind: str = "ratio"  # "ratio" (0..1, shown as %), "number", "seconds", "count"

    @property
    def best(self) -> int | None:
        """The column with the best value (None when there is no ranking or no two values)."""
        known = [(v, i) for i, v in enumerate(self.values) if v is not None]
        if self.higher_is_better is None or len(known) < 2:
            return None
        return (max if self.higher_is_better else min)(known)[1]


@dataclass
class RunComparison:
    runs: list[RunColumn]
    settings: list[SettingRow]
    metrics: list[MetricRow]
    split: str | None  # the split of the per-class F1 ("val" or "test"), None when no run has one
    classes: list[str]
    per_class_f1: dict[str, list[float | None]]  # class -> one value per run
    curves: list[dict[str, list[float | None]]]  # per run: x (epochs done) and CURVE_KEYS
    notes: list[str] = field(default_factory=list)

    def differing(self) -> list[SettingRow]:
        return [row for row in self.settings if row.differs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [
                {"name": r.name, "title": r.title, "state": r.state, "created": r.created, "trial": r.trial}
                for r in self.runs
            ],
            "settings": [
                {"key": s.key, "label": s.label, "values": s.values, "differs": s.differs}
                for s in self.settings
            ],
            "metrics": [
                {"key": m.key, "label": m.label, "values": m.values, "best": m.best} for m in self.metrics
            ],
            "split": self.split,
            "per_class_f1": self.per_class_f1,
            "curves": self.curves,
            "notes": self.notes,
        }


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "-"
    return str(value)


def describe_layers(spec: dict[str, Any] | None) -> str:
    """A design in one line: 'Conv2D 32 · MaxPooling2D · Dense auto'."""
    if not spec:
        return "-"
    parts = []
    for layer in spec.get("layers", [])[1:]:
        kind = layer.get("type", "?")
        detail = {
            "Conv2D": layer.get("filters"),
            "Dense": layer.get("units"),
            "Dropout": layer.get("rate"),
            "Backbone": f"{layer.get('arch')} ({layer.get('train_blocks', 0)} blocks trained)",
        }.get(kind)
        parts.append(f"{kind} {detail}" if detail is not None else kind)
    return " · ".join(parts)


def describe_input(prep: dict[str, Any] | None) -> str:
    if not prep:
        return "-"
    colour = "grey" if prep.get("channels") == "L" else "colour"
    return f"{prep.get('width')}x{prep.get('height')} {colour}, {prep.get('fit', 'stretch')}"


def describe_augment(augment: dict[str, Any] | None) -> str:
    if not augment:
        return "none"
    parts = [words.format(v=augment[k]) for k, words in AUGMENT_WORDS.items() if augment.get(k)]
    parts += [name for name in ("hflip", "vflip") if augment.get(name)]
    return ", ".join(parts) or "none"


def run_settings(config: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """key -> (label, value in words) of one run's config.json."""
    spec = config.get("spec")
    train = config.get("train") or {}
    info = config.get("run_info") or {}
    out: dict[str, tuple[str, str]] = {
        "design": ("Model design", (spec or {}).get("name") or config.get("model") or "-"),
        "layers": ("Layers", describe_layers(spec)),
        "params": ("Parameters", f"{config['params']:,}" if isinstance(config.get("params"), int) else "-"),
        "input": ("Picture size", describe_input(config.get("preprocessing"))),
    }
    for key, label in TRAIN_LABELS.items():
        if key in train:
            value = train[key]
            words = MONITOR_WORDS.get(value, _number(value)) if key == "monitor" else _number(value)
            out[f"train.{key}"] = (label, words)
    out["train.augment"] = ("Augmentation", describe_augment(train.get("augment")))
    out["init"] = (
        "Started from",
        Path(str(config["init_weights"])).name if config.get("init_weights") else "random weights",
    )
    out["dataset"] = ("Dataset version", str(info.get("dataset_manifest_hash") or "-"))
    counts = (info.get("split") or {}).get("counts") or {}
    if counts:
        out["split"] = (
            "Pictures (train/val/test)",
            "/".join(str(counts.get(k, 0)) for k in ("train", "val", "test")),
        )
    out["device"] = (
        "Trained on",
        f"{config.get('device', '-')}, {config.get('precision_label') or config.get('precision', '-')}",
    )
    return out


def _epoch_rows(run_dir: Path) -> list[dict[str, Any]]:

    return [r for r in read_metrics(run_dir) if r["kind"] == "epoch"]


def _curves(rows: list[dict[str, Any]]) -> dict[str, list[float | None]]:
    out: dict[str, list[float | None]] = {"x": [r["epoch"] + 1 for r in rows]}
    for key in CURVE_KEYS:
        out[key] = [r.get(key) for r in rows]
    return out


def _evaluation(run_dir: Path, split: str) -> dict[str, Any]:
    data = read_json_object(run_dir / f"evaluation_{split}.json")
    if not data and split == "test":
        data = read_json_object(run_dir / "evaluation.json")
        if data.get("split") not in (None, "test"):
            data = {}
    return data


def compare_runs(run_dirs: list[Path | str], split: str = "val") -> RunComparison:
    """Compare runs (their folders). `split` picks the evaluation whose per-class F1 is shown."""
    runs = [Path(p) for p in run_dirs]
    if not runs:
        raise UserError("Choose at least one run to compare.")
    configs, states, columns = [], [], []
    for run in runs:
        config = read_json_object(run / CONFIG_FILE)
        if not config:
            raise UserError(f"{run} is not a training run (it has no readable config.json).")
        state = read_json_object(run / STATE_FILE)
        search = (config.get("run_info") or {}).get("search")
        trial = f"{search.get('study')} t{search.get('trial')}" if isinstance(search, dict) else None
        configs.append(config)
        states.append(state)
        columns.append(
            RunColumn(
                run.name,
                run,
                run_state(state),
                str(config.get("created", ""))[:16].replace("T", " "),
                trial,
                run_title(run, config),
            )
        )

    titles = [c.title for c in columns]
    for c in columns:  # two runs called "seed": tell them apart by their start time
        if titles.count(c.title) > 1:
            c.title = f"{c.title} ({c.created[11:16] or c.name})"
    per_run = [run_settings(c) for c in configs]
    keys = list(dict.fromkeys(k for settings in per_run for k in settings))
    settings = [
        SettingRow(
            key,
            next(s[key][0] for s in per_run if key in s),
            [s[key][1] if key in s else "-" for s in per_run],
        )
        for key in keys
    ]
    trials = [c.trial for c in columns]
    if any(trials):
        settings.insert(0, SettingRow("search", "Search trial", [t or "-" for t in trials]))

    rows = [_epoch_rows(run) for run in runs]
    curves = [_curves(r) for r in rows]
    evals = {s: [_evaluation(run, s) for run in runs] for s in ("val", "test")}
    metrics = [
        MetricRow("val_accuracy", "Validation accuracy", [e.get("accuracy") for e in evals["val"]]),
        MetricRow(
            "val_macro_f1", "Validation macro F1", [(e.get("macro") or {}).get("f1") for e in evals["val"]]
        ),
        MetricRow("test_accuracy", "Test accuracy", [e.get("accuracy") for e in evals["test"]]),
        MetricRow(
            "test_macro_f1", "Test macro F1", [(e.get("macro") or {}).get("f1") for e in evals["test"]]
        ),
        MetricRow(
            "best_val_loss",
            "Lowest validation loss (training)",
            [_pick(c["val_loss"], min) for c in curves],
            higher_is_better=False,
            kind="number",
        ),
        MetricRow("epochs", "Epochs trained", [float(len(c["x"])) for c in curves], None, "count"),
        MetricRow(
            "seconds",
            "Training time",
            [_total_seconds(r) for r in rows],
            None,
            "seconds",
        ),
        MetricRow("images_per_s", "Pictures per second", [_median_speed(r) for r in rows], None, "number"),
    ]
    metrics = [m for m in metrics if any(v is not None for v in m.values)]

    chosen = split if any(evals[split]) else ("test" if split == "val" and any(evals["test"]) else None)
    classes: list[str] = []
    per_class: dict[str, list[float | None]] = {}
    notes = []
    if chosen is not None:
        for e in evals[chosen]:
            for row in e.get("per_class") or []:
                if row.get("class") not in classes:
                    classes.append(row.get("class"))
        for name in classes:
            per_class[name] = [
                next((r.get("f1") for r in (e.get("per_class") or []) if r.get("class") == name), None)
                for e in evals[chosen]
            ]
        missing = [c.name for c, e in zip(columns, evals[chosen], strict=True) if not e]
        if missing:
            notes.append(f"Not evaluated on the {_split_words(chosen)} pictures yet: {', '.join(missing)}.")
    names = {tuple(c.get("class_names") or []) for c in configs}
    if len(names) > 1:
        notes.append("These runs were trained on different classes; compare their metrics with care.")
    return RunComparison(columns, settings, metrics, chosen, classes, per_class, curves, notes)


def _split_words(split: str) -> str:
    return {"val": "validation", "test": "test"}.get(split, split)


def _pick(values: list[float | None], fn) -> float | None:
    known = [v for v in values if v is not None]
    return fn(known) if known else None


def _total_seconds(rows: list[dict[str, Any]]) -> float | None:
    seconds = [r["seconds"] for r in rows if r.get("seconds") is not None]
    return float(sum(seconds)) if seconds else None


def _median_speed(rows: list[dict[str, Any]]) -> float | None:
    speeds = [r["images_per_s"] for r in rows if r.get("images_per_s")]
    return float(statistics.median(speeds)) if speeds else None
