"""The run history as data: what each run folder says about itself, its curves, its title and state.

A run that was killed (the app closed by force, the computer went off) still says "running" in its
state.json; `load_run` tells it from a live one by the process id and computer written there, and
calls it "interrupted": it can be resumed from its last checkpoint. A run that a live process trains
is never trained by a second one (`refuse_if_training`).

`load_run` and `list_runs` read metrics.csv of every run: call them from a worker in the GUI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnstudio.core.errors import UserError
from cnnstudio.core.runs.files import (
    BEST_WEIGHTS,
    CONFIG_FILE,
    LAST_WEIGHTS,
    STATE_FILE,
    other_computer,
    read_json_object,
    read_metrics,
    training_alive,
)

STATES = (
    "running",
    "finished",
    "stopped",
    "crashed",
    "interrupted",
    "pruned",
)  # pruned: a search trial stopped early


@dataclass
class RunRecord:
    path: Path
    name: str
    created: str  # "2026-11-28 21:54"
    state: str  # one of STATES
    reason: str
    message: str
    epochs_done: int
    epochs: int
    best_val_accuracy: float | None
    best_accuracy: float | None  # training accuracy, for runs without a validation split
    summary: str
    precision: str
    spec: dict[str, Any] | None
    train: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    has_best: bool = False
    has_last: bool = False
    partial_epoch: bool = False  # stopped in the middle of an epoch
    # The validation pictures that graded the run (None: not recorded), whether they were all labelled
    # by people (None: trained before accepted suggestions were kept out of validation), and how many
    # training pictures were suggestions accepted in bulk.
    graded: int | None = None
    graded_by_people: bool | None = None
    suggestions_in_training: int | None = None
    computer: str = ""  # the other computer that trains (or trained) it, with a shared project folder

    @property
    def graded_text(self) -> str:
        """Who graded the run's validation accuracy, in words ("" when nothing is recorded)."""
        if self.graded is None:
            return ""
        n = f"{self.graded:,} validation picture" + ("" if self.graded == 1 else "s")
        if self.graded_by_people is None:
            return f"Graded on {n}; this run was trained before accepted suggestions were kept out of them."
        if not self.graded_by_people:
            return f"Graded on {n}, some of them labelled by accepting a model's suggestions."
        text = f"Graded on {n} labelled by people."
        if self.suggestions_in_training:
            k = self.suggestions_in_training
            text += f" {k:,} accepted suggestion{'' if k == 1 else 's'} trained it; none graded it."
        return text

    @property
    def can_resume(self) -> bool:
        """An unfinished run with its last checkpoint: it continues where it stopped."""
        return (
            self.state in ("stopped", "crashed", "interrupted")
            and self.has_last
            and (self.epochs_done < self.epochs or self.partial_epoch)
            and self.spec is not None
        )

    @property
    def can_continue(self) -> bool:
        """A finished run can train for more epochs from where it ended."""
        return self.state == "finished" and self.has_last and self.spec is not None

    @property
    def can_fine_tune(self) -> bool:
        return self.has_best and self.spec is not None and self.state != "running"

    @property
    def display_state(self) -> str:
        if self.state == "finished" and self.reason == "early_stopping":
            return "finished (stopped early)"
        if self.state == "crashed" and self.reason == "unstable":
            return "crashed (unstable)"
        if self.state == "pruned":
            return "stopped early by the search"
        if self.state == "running" and self.computer:
            return f"running on {self.computer}"
        return self.state


def load_run(run_dir: Path, live: set[Path] | None = None) -> RunRecord | None:
    """The record of one run folder, or None when it is not a readable run.

    `live`: runs this process is training now; any other run of this process that says "running"
    lost its thread and counts as interrupted.
    """
    run_dir = Path(run_dir)
    config = read_json_object(run_dir / CONFIG_FILE)
    if not config:
        return None
    state = read_json_object(run_dir / STATE_FILE)
    status = state.get("status", "interrupted")
    if status == "running" and not training_alive(state, own=run_dir in (live or set())):
        status = "interrupted"
    train = config.get("train") or {}
    rows = [r for r in read_metrics(run_dir) if r["kind"] == "epoch"]
    val = [r["val_accuracy"] for r in rows if r.get("val_accuracy") is not None]
    acc = [r["accuracy"] for r in rows if r.get("accuracy") is not None]
    created = str(config.get("created", "")).replace("T", " ")[:16]
    precision = config.get("precision", "")
    return RunRecord(
        path=run_dir,
        name=run_dir.name,
        created=created,
        state=status if status in STATES else "interrupted",
        reason=str(state.get("reason", "")),
        message=str(state.get("message", "")),
        epochs_done=int(state.get("epochs_done", len(rows)) or 0),
        epochs=int(state.get("epochs", train.get("epochs", 0)) or 0),
        # The kept model's (best.safetensors: the epoch chosen by the monitor), the number Evaluate shows;
        # the highest of all epochs only when the run does not say which epoch it kept.
        best_val_accuracy=kept_val_accuracy(rows, _kept_epoch(state)) or (max(val) if val else None),
        best_accuracy=max(acc) if acc else None,
        summary=settings_summary(train, precision if precision != "float32" else None),
        precision=str(config.get("precision_label", precision)),
        spec=config.get("spec"),
        train=train,
        class_names=list(config.get("class_names") or []),
        has_best=(run_dir / BEST_WEIGHTS).exists(),
        has_last=(run_dir / LAST_WEIGHTS).exists(),
        partial_epoch=bool(state.get("batch")),
        **_graded(config),
        computer=other_computer(state),
    )


def _graded(config: dict) -> dict[str, Any]:
    split = (config.get("run_info") or {}).get("split") or {}
    counts = split.get("counts") or {}
    suggested = split.get("accepted_suggestions")
    val = counts.get("val")
    if not isinstance(val, int):
        return {}
    if not isinstance(suggested, dict):
        return {"graded": val}
    return {
        "graded": val,
        "graded_by_people": not suggested.get("val"),
        "suggestions_in_training": int(suggested.get("train") or 0),
    }


def _kept_epoch(state: dict) -> int | None:
    best = state.get("best")
    epoch = best.get("epoch") if isinstance(best, dict) else None
    return epoch if isinstance(epoch, int) else None


def list_runs(runs_dir: Path, live: set[Path] | None = None) -> list[RunRecord]:
    """Every readable run under runs_dir, newest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    records = [load_run(p, live) for p in sorted(runs_dir.iterdir(), reverse=True) if p.is_dir()]
    return [r for r in records if r is not None]


def read_curves(run_dir: Path) -> dict[str, list[float | None]]:
    """A run's per-epoch curves: x (epochs done), loss, accuracy, val_loss, val_accuracy, lr."""
    rows = [r for r in read_metrics(Path(run_dir)) if r["kind"] == "epoch"]
    out: dict[str, list[float | None]] = {"x": [r["epoch"] + 1 for r in rows]}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        out[key] = [r.get(key) for r in rows]
    return out


def run_state(state: dict[str, Any]) -> str:
    """A run's status from its state.json; "running" from a process that is gone reads "interrupted"."""
    status = str(state.get("status") or "unknown")
    if status == "running" and not training_alive(state):
        return "interrupted"
    return status


def refuse_if_training(run_dir: Path) -> None:
    """A run that a live process trains is not trained here as well: two writers would mix their
    checkpoints. (This process's own runs are its caller's to know.)"""
    state = read_json_object(Path(run_dir) / STATE_FILE)
    if state.get("status") != "running" or not training_alive(state, own=False):
        return
    host = other_computer(state)
    if host:
        where = f"on the computer {host}"
        then = "Continue it there once it stops, or here after it has made no progress for a day."
    else:
        where = f"by another program on this computer (process {state.get('pid')})"
        then = "Stop that training first, or wait until it ends."
    raise UserError(f"The run {Path(run_dir).name} is being trained right now {where}. {then}")


def run_title(run_dir: Path, config: dict[str, Any]) -> str:
    """A short name: "preview t3" for a search trial, else the label after the run's start time."""
    search = (config.get("run_info") or {}).get("search")
    if isinstance(search, dict):
        return f"{search.get('study')} t{search.get('trial')}"
    match = re.match(r"^\d{8}-\d{6}-(.+)$", run_dir.name)
    return match.group(1) if match else run_dir.name


def kept_epoch_logs(epoch_logs: list[dict], best_epoch: int | None) -> dict | None:
    """The logs of the kept epoch (0-based `best_epoch`), or None."""
    if best_epoch is None:
        return None
    return next((e for e in epoch_logs if e.get("epoch") == best_epoch), None)


def kept_val_accuracy(rows: list[dict], best_epoch: int | None) -> float | None:
    """The validation accuracy of the kept epoch among metrics rows, else None."""
    kept = kept_epoch_logs([r for r in rows if r.get("val_accuracy") is not None], best_epoch)
    return kept["val_accuracy"] if kept is not None else None


OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}
SCHEDULE_NAMES = {
    "constant": "constant",
    "step": "step",
    "cosine": "cosine",
    "one_cycle": "one cycle",
    "plateau": "on plateau",
}


def settings_summary(train: dict[str, Any], precision: str | None = None) -> str:
    """One line for the run history: 'Adam · lr 0.001 · batch 32 · 10 epochs · augmented'."""
    parts = [
        OPTIMIZER_NAMES.get(train.get("optimizer", ""), str(train.get("optimizer", "?"))),
        f"lr {float(train.get('lr', 0.0)):.2g}",
        f"batch {train.get('batch_size', '?')}",
        f"{train.get('epochs', '?')} epochs",
    ]
    schedule = train.get("schedule", "constant")
    if schedule != "constant":
        parts.append(f"{SCHEDULE_NAMES.get(schedule, schedule)} schedule")
    augment = train.get("augment") or {}
    if any(
        augment.get(k) for k in ("hflip", "vflip", "rotation", "zoom", "translate", "brightness", "contrast")
    ):
        parts.append("augmented")
    if train.get("early_stopping"):
        parts.append("early stopping")
    if train.get("balance_classes"):
        parts.append("balanced")
    if precision:
        parts.append(precision)
    return " · ".join(parts)
