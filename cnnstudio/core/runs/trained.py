"""The runs of a project that have weights: listed, found by name, described, the best finished one.

They can be evaluated, exported or used to predict. Reads only the small files of each run folder
(config.json, state.json), so listing is quick enough for the GUI thread (no torch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cnnstudio.core.errors import UserError
from cnnstudio.core.runs.files import CONFIG_FILE, STATE_FILE, WEIGHT_FILES, read_json_object, training_alive


class ProjectRuns(Protocol):
    """What these functions need of a core.project.Project (which imports this package)."""

    def list_runs(self) -> list[Path]: ...


def run_folders(runs_dir: Path) -> list[Path]:
    """Every run folder (one with a config.json) under runs_dir, oldest first (by name: start time)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.exists():
        return []
    return sorted(p for p in runs_dir.iterdir() if (p / CONFIG_FILE).exists())


@dataclass(frozen=True)
class RunChoice:
    path: Path
    name: str
    text: str  # what a combo box shows: name, state and epochs
    class_names: tuple[str, ...] = ()


def has_weights(run_dir: Path) -> bool:
    return any((run_dir / name).exists() for name in WEIGHT_FILES)


def describe_run(run_dir: Path) -> RunChoice:
    config = read_json_object(run_dir / CONFIG_FILE)
    state = read_json_object(run_dir / STATE_FILE)
    parts = [run_dir.name]
    status = state.get("status")
    done, total = state.get("epochs_done"), state.get("epochs")
    if isinstance(done, int) and isinstance(total, int):
        parts.append(f"{done}/{total} epochs")
    if status and status != "finished":
        parts.append(str(status))
    names = config.get("class_names") or []
    return RunChoice(run_dir, run_dir.name, " · ".join(parts), tuple(str(n) for n in names))


def trained_runs(project: ProjectRuns | None) -> list[RunChoice]:
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
    state = read_json_object(run_dir / STATE_FILE)
    best = state.get("best") if isinstance(state.get("best"), dict) else {}
    epoch = best.get("epoch")
    done, total = state.get("epochs_done"), state.get("epochs")
    training = state.get("status") == "running" and training_alive(state)
    return ModelState(
        epoch + 1 if isinstance(epoch, int) else None,
        done if isinstance(done, int) else None,
        total if isinstance(total, int) else None,
        training,
    )


def find_run(project: ProjectRuns, run: str | None) -> Path:
    """A run by id (folder name), or the newest run that has weights."""
    runs = [p for p in project.list_runs() if has_weights(p)]
    if run is not None:
        for p in runs:
            if p.name == run:
                return p
        names = ", ".join(p.name for p in runs) or "none yet"
        raise UserError(f"There is no run called {run!r} in this project. Runs: {names}.")
    if not runs:
        raise UserError("This project has no trained run yet. Train one first (cnnstudio train).")
    return runs[-1]


def best_finished_run(project: ProjectRuns) -> Path:
    """The finished run with the best monitored value (ties: the newest); a plain error when none."""
    best: tuple[float, int] | None = None
    chosen: Path | None = None
    for i, run in enumerate(project.list_runs()):
        if not has_weights(run):
            continue
        state = read_json_object(run / STATE_FILE)
        if state.get("status") != "finished":
            continue
        b = state.get("best") or {}
        value = b.get("value")
        if not isinstance(value, (int, float)):
            score = float("-inf")
        else:
            score = float(value) if "acc" in str(b.get("monitor", "")) else -float(value)
        if best is None or (score, i) >= best:
            best, chosen = (score, i), run
    if chosen is None:
        raise UserError(
            "This project has no finished run to make suggestions with. Train one first (cnnstudio train)."
        )
    return chosen


def run_summary(run_dir: Path) -> dict[str, Any]:
    """What the run history shows: config and state, read from the run folder."""
    out: dict[str, Any] = {"run": run_dir.name}
    for name, file in (("config", CONFIG_FILE), ("state", STATE_FILE)):
        f = run_dir / file
        if f.exists():
            out[name] = json.loads(f.read_text(encoding="utf-8"))
    return out
