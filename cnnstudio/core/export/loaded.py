"""A trained model ready to predict, from a project's run or a .cnnmodel bundle: load_model().

load_model opens a single model's bundle; core.models.load_model opens ensemble bundles as well
(core.export does not import core.ensemble: the ensemble package builds on this one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.errors import UserError
from cnnstudio.core.runs import CONFIG_FILE

if TYPE_CHECKING:
    from torch import nn

    from cnnstudio.core.spec import Preprocessing
    from cnnstudio.core.trust import Calibration


@dataclass
class LoadedModel:
    """The model (logits out, eval mode, CPU) with what it needs to predict like the app does."""

    model: nn.Module
    preprocessing: Preprocessing
    class_names: list[str]
    spec: dict[str, Any] | None
    source: str  # in words: "run 20260101-120000-tiny of project flowers" or "flowers.cnnmodel"
    run_dir: Path | None = None
    bundle_path: Path | None = None
    card: dict[str, Any] = field(default_factory=dict)
    # Temperature and unknown-score data (core.trust); None = not calibrated (T = 1).
    calibration: Calibration | None = None


def load_model(source: Path | str, *, run: str | None = None) -> LoadedModel:
    """A single model's .cnnmodel file, a project folder (its newest run, or `run`), or a run folder.

    An ensemble's bundle is refused in words; core.models.load_model opens it."""
    from cnnstudio.core.export.bundle import read_bundle

    path = Path(source).expanduser()
    if not path.exists():
        raise UserError(f"The model {path} does not exist. Give a .cnnmodel file or a project folder.")
    if path.is_file():
        bundle = read_bundle(path)
        return LoadedModel(
            bundle.build_model(),
            bundle.preprocessing,
            bundle.class_names,
            bundle.spec,
            path.name,
            bundle_path=path,
            card=bundle.card,
            calibration=bundle.calibration,
        )
    from cnnstudio.core.project import PROJECT_FILE, Project

    if (path / PROJECT_FILE).exists():
        from cnnstudio.core.runs import find_run

        project = Project.open(path)
        run_dir = find_run(project, run)
        loaded = load_run(run_dir)
        loaded.source = f"run {run_dir.name} of project {project.name}"
        return loaded
    if (path / CONFIG_FILE).exists():
        return load_run(path)
    raise UserError(
        f"{path} is neither a CNN Studio project nor a model file. Give a .cnnmodel file or a project folder."
    )


def load_run(run_dir: Path) -> LoadedModel:
    """A run's best weights (its last ones when no epoch has finished)."""
    from cnnstudio.core.spec import Preprocessing
    from cnnstudio.core.train import load_run_weights
    from cnnstudio.core.trust import Calibration

    model, spec, prep, class_names = load_run_weights(run_dir, which="best")
    preprocessing = Preprocessing.from_dict(prep) if isinstance(prep, dict) else prep
    return LoadedModel(
        model.eval(),
        preprocessing,
        list(class_names),
        spec,
        f"run {run_dir.name}",
        run_dir=run_dir,
        calibration=Calibration.load(run_dir),
    )
