"""When enough pictures were labelled since the last run, propose fine-tuning it on the new labels.

"New labels" = usable labelled pictures now minus the pictures the run trained, validated and tested
on (its split counts in config.json). The proposal comes once that reaches `retrain_after(n)`:
10% of the pictures the run saw, at least 10 and at most 50 (a few labels change little; waiting for
hundreds wastes the person's work). Fine-tuning starts from the run's best weights with the run's
design and settings, a learning rate ten times lower (the weights are already good; a large step
would undo them) and half the epochs (at least 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnstudio.core.train.coach import Advice

MIN_NEW, MAX_NEW, SHARE = 10, 50, 0.10


def retrain_after(seen: int) -> int:
    return int(min(MAX_NEW, max(MIN_NEW, round(SHARE * seen))))


@dataclass
class RetrainProposal:
    run_dir: Path
    new_labels: int
    seen: int
    spec: dict[str, Any]
    train: dict[str, Any]  # the fine-tune's TrainConfig as a dict

    @property
    def text(self) -> str:
        return (
            f"{self.new_labels} pictures were labelled since {self.run_dir.name} was trained. "
            f"Fine-tune it on the new labels: it starts from its trained weights, learning rate "
            f"{self.train['lr']:.2g}, {self.train['epochs']} epochs."
        )

    def advice(self) -> Advice:
        return Advice("info", "retrain", self.text)


def retrain_proposal(project, index, min_new: int | None = None) -> RetrainProposal | None:
    """A proposal to fine-tune the newest finished run on the labels added since, or None."""
    from cnnstudio.core.runs import BEST_WEIGHTS, read_json_object

    labelled = [s for s in index.samples if s.problem is None and s.label is not None]
    classes = sorted({s.label for s in labelled})
    for run_dir in reversed(project.list_runs()):
        state = read_json_object(run_dir / "state.json")
        if state.get("status") != "finished" or not (run_dir / BEST_WEIGHTS).exists():
            continue
        config = read_json_object(run_dir / "config.json")
        if config.get("spec") is None or sorted(config.get("class_names") or []) != classes:
            return None  # the classes changed: a new run, not a fine-tune
        counts = ((config.get("run_info") or {}).get("split") or {}).get("counts") or {}
        seen = sum(int(v) for v in counts.values() if isinstance(v, int | float))
        new = len(labelled) - seen
        if new < (min_new if min_new is not None else retrain_after(seen)):
            return None
        train = dict(config.get("train") or {})
        train["lr"] = float(train.get("lr", 1e-3)) / 10
        train["epochs"] = max(3, int(train.get("epochs", 10)) // 2)
        return RetrainProposal(run_dir, new, seen, config["spec"], train)
    return None
