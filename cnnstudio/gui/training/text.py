"""Numbers and settings as a person reads them (Qt-free): durations, rates, a run's settings."""

from __future__ import annotations

import math
from typing import Any

OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}
SCHEDULE_NAMES = {
    "constant": "constant",
    "step": "step",
    "cosine": "cosine",
    "one_cycle": "one cycle",
    "plateau": "on plateau",
}


def duration(seconds: float | None) -> str:
    """'0:42', '12:05', '1:02:03'; '–' when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def learning_rate(value: float) -> str:
    """0.001 -> '0.001'; 3.2e-05 -> '3.2e-05' (two significant digits)."""
    return f"{value:.2g}"


def rate(images_per_s: float | None) -> str:
    if not images_per_s or not math.isfinite(images_per_s):
        return "–"
    return f"{images_per_s:,.0f} images/s"


def settings_summary(train: dict[str, Any], precision: str | None = None) -> str:
    """One line for the run history: 'Adam · lr 0.001 · batch 32 · 10 epochs · augmented'."""
    parts = [
        OPTIMIZER_NAMES.get(train.get("optimizer", ""), str(train.get("optimizer", "?"))),
        f"lr {learning_rate(float(train.get('lr', 0.0)))}",
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
