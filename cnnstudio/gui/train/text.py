"""Numbers as a person reads them (Qt-free): durations, rates. A run's settings line: core.runs.settings_summary."""

from __future__ import annotations

import math


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
