"""The runs of a project that can be evaluated, exported or used to predict (Qt-free, no torch).

Reads only the small files of each run folder (config.json, state.json), so listing is quick enough
for the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cnnstudio.core.train.run import read_json_object

if TYPE_CHECKING:
    from cnnstudio.core.project import Project

WEIGHT_FILES = ("best.safetensors", "last.safetensors")


@dataclass(frozen=True)
class RunChoice:
    path: Path
    name: str
    text: str  # what a combo box shows: name, state and epochs
    class_names: tuple[str, ...] = ()


def has_weights(run_dir: Path) -> bool:
    return any((run_dir / name).exists() for name in WEIGHT_FILES)


def describe_run(run_dir: Path) -> RunChoice:
    config = read_json_object(run_dir / "config.json")
    state = read_json_object(run_dir / "state.json")
    parts = [run_dir.name]
    status = state.get("status")
    done, total = state.get("epochs_done"), state.get("epochs")
    if isinstance(done, int) and isinstance(total, int):
        parts.append(f"{done}/{total} epochs")
    if status and status != "finished":
        parts.append(str(status))
    names = config.get("class_names") or []
    return RunChoice(run_dir, run_dir.name, " · ".join(parts), tuple(str(n) for n in names))


def trained_runs(project: Project | None) -> list[RunChoice]:
    """Runs with saved weights, newest first (run folders are named by their start time)."""
    if project is None:
        return []
    runs = [p for p in project.list_runs() if has_weights(p)]
    return [describe_run(p) for p in sorted(runs, key=lambda p: p.name, reverse=True)]


def weights_time(run_dir: Path) -> float:
    times = [(run_dir / name).stat().st_mtime for name in WEIGHT_FILES if (run_dir / name).exists()]
    return max(times, default=0.0)


def saved_evaluation(run_dir: Path, split: str) -> Path | None:
    """evaluation_<split>.json of the run when it is newer than the run's weights, else None."""
    path = run_dir / f"evaluation_{split}.json"
    try:
        if path.stat().st_mtime >= weights_time(run_dir):
            return path
    except OSError:
        return None
    return None


def weights_stamp(run_dir: Path) -> tuple[int, int] | None:
    """The identity of the weights an evaluation uses (best.safetensors, else last): (mtime_ns, size).

    It changes whenever training writes a new best model, so an evaluation can tell it is out of date.
    """
    for name in WEIGHT_FILES:
        try:
            stat = (run_dir / name).stat()
        except OSError:
            continue
        return stat.st_mtime_ns, stat.st_size
    return None


@dataclass(frozen=True)
class ModelState:
    """Which model of a run is evaluated: its best epoch (1-based) and whether training goes on."""

    epoch: int | None
    epochs_done: int | None
    epochs: int | None
    training: bool

    def words(self) -> str:
        if self.epoch is None:
            return ""
        return f"model of epoch {self.epoch}" + (f" of {self.epochs}" if self.epochs else "")


def model_state(run_dir: Path) -> ModelState:
    from cnnstudio.core.train.run import pid_alive

    state = read_json_object(run_dir / "state.json")
    best = state.get("best") if isinstance(state.get("best"), dict) else {}
    epoch = best.get("epoch")
    done, total = state.get("epochs_done"), state.get("epochs")
    training = state.get("status") == "running" and pid_alive(int(state.get("pid") or 0))
    return ModelState(
        epoch + 1 if isinstance(epoch, int) else None,
        done if isinstance(done, int) else None,
        total if isinstance(total, int) else None,
        training,
    )
