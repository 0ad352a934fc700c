"""Which run the Predict section starts on: the best one, not the newest.

The best is the run whose kept model (the epoch its best.safetensors holds) has the highest validation
accuracy, the number the run list and Evaluate show; runs without one (no validation pictures) and a
run still training are not chosen. Ties go to the newer run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnnstudio.core.runs import load_run


@dataclass(frozen=True)
class BestRun:
    path: Path
    val_accuracy: float

    def words(self) -> str:
        """Short: the picker beside it already names the run."""
        return f"Best run (validation {self.val_accuracy * 100:.0f}%)"

    def tooltip(self) -> str:
        return (
            f"Predict chose {self.path.name}: of this project's runs, its kept model has the highest "
            f"validation accuracy ({self.val_accuracy:.1%}). Choose another run above."
        )


def best_run(paths: list[Path], live: set[Path] | None = None) -> BestRun | None:
    """The best of `paths` (newest first, as the run picker lists them), or None when none has a
    validation accuracy. Reads each run's metrics.csv (small: one row per epoch and logged batch)."""
    best: BestRun | None = None
    for path in paths:
        record = load_run(path, live)
        if record is None or record.state == "running" or record.best_val_accuracy is None:
            continue
        if best is None or record.best_val_accuracy > best.val_accuracy:
            best = BestRun(path, record.best_val_accuracy)
    return best
