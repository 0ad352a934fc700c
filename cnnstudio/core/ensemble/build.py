"""An ensemble of a project's runs: loading the members, their weights, and evaluating it like a run.

The ensemble's probabilities are the weighted average of its members' (softmax) probabilities, each
member reading the pictures with its own preprocessing. The weights (`weigh_members`): "greedy", chosen
on the validation pictures by greedy ensemble selection (selection.py; never worse there than the best
member), "accuracy", in proportion to each member's validation accuracy, or "equal". Runs must know the same classes in the same
order. Members that decode pictures differently (another size, colour or fit) can be evaluated
together; saving them as one model file needs one picture size (see `Ensemble.check_exportable`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.core.errors import UserError

if TYPE_CHECKING:
    from torch import nn

    from cnnstudio.core.evaluate import EvaluationReport
    from cnnstudio.core.project import Project, SplitData
    from cnnstudio.core.spec import Preprocessing

DecodeKey = tuple[int, int, int, str]  # height, width, channels, fit
WEIGHTINGS = ("greedy", "equal", "accuracy")  # what weigh_members takes
WEIGHTING_WORDS = {
    "equal": "equal weights",
    "validation accuracy": "weighted by validation accuracy",
    "greedy selection": "weights chosen on the validation pictures by greedy selection",
}


@dataclass
class Member:
    run_dir: Path
    model: nn.Module
    preprocessing: Preprocessing
    class_names: list[str]
    spec: dict[str, Any] | None
    val_accuracy: float | None = None

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def decode_key(self) -> DecodeKey:
        p = self.preprocessing
        return (p.height, p.width, p.num_channels, p.fit)


def describe_input(key: DecodeKey) -> str:
    height, width, channels, fit = key
    return f"{width}x{height} {'colour' if channels == 3 else 'grey'} ({fit})"


@dataclass
class Ensemble:
    members: list[Member]
    weights: list[float]  # adding up to 1
    weighting: str = "equal"  # "equal" | "validation accuracy" | "greedy selection"
    class_names: list[str] = field(default_factory=list)

    @property
    def preprocessing(self) -> Preprocessing:
        """What an exported ensemble takes: its first member's preprocessing."""
        return self.members[0].preprocessing

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    def describe_weighting(self) -> str:
        """How the weights were chosen, in words."""
        return WEIGHTING_WORDS.get(self.weighting, f"{self.weighting} weights")

    def check_exportable(self) -> None:
        """UserError when the members read pictures at different sizes, colours or fits."""
        keys = {m.decode_key for m in self.members}
        if len(keys) > 1:
            inputs = "; ".join(f"{m.name}: {describe_input(m.decode_key)}" for m in self.members)
            raise UserError(
                "These runs read pictures differently, so they cannot be saved as one model file that takes "
                f"one picture ({inputs}). They can still be evaluated together; to save an ensemble, choose "
                "runs whose models have the same input size and colour."
            )

    def module(self) -> nn.Module:
        """The ensemble as one module (see ensemble.model); needs members that read pictures alike."""
        from cnnstudio.core.ensemble.model import EnsembleModule, input_adapter

        self.check_exportable()
        first = self.preprocessing
        adapters = [input_adapter(first, m.preprocessing) for m in self.members]
        return EnsembleModule([m.model for m in self.members], self.weights, adapters).eval()

    def to_dict(self) -> dict[str, Any]:
        return {
            "members": [
                {"run": m.name, "weight": w, "val_accuracy": m.val_accuracy}
                for m, w in zip(self.members, self.weights, strict=True)
            ],
            "weighting": self.weighting,
            "class_names": list(self.class_names),
        }


def _find_runs(project: Project, runs: list[str | Path]) -> list[Path]:
    from cnnstudio.core.runs import CONFIG_FILE, find_run

    found: list[Path] = []
    for run in runs:
        path = Path(run)
        if path.is_dir() and (path / CONFIG_FILE).exists():
            path = path.resolve()
        else:
            path = find_run(project, str(run))
        if path in found:
            raise UserError(f"The run {path.name} is named twice; an ensemble needs different runs.")
        found.append(path)
    if len(found) < 2:
        raise UserError("An ensemble needs at least two runs.")
    return found


def load_ensemble(
    project: Project, runs: list[str | Path], *, weighted: bool = False, arrays: dict | None = None
) -> Ensemble:
    """The runs (names of the project's runs, or run folders) as an ensemble.

    With `weighted`, each member's weight is its accuracy on the project's validation pictures
    (computed here; `arrays` from `ensemble_arrays` saves decoding them again).
    """
    from cnnstudio.core.export import load_run

    members = []
    for run_dir in _find_runs(project, runs):
        loaded = load_run(run_dir)
        members.append(Member(run_dir, loaded.model, loaded.preprocessing, loaded.class_names, loaded.spec))
    first = members[0]
    for m in members[1:]:
        if m.class_names != first.class_names:
            raise UserError(
                f"The runs were trained on different classes ({first.name}: {', '.join(first.class_names)}; "
                f"{m.name}: {', '.join(m.class_names)}). An ensemble needs runs trained on the same classes."
            )
    ensemble = Ensemble(members, [1 / len(members)] * len(members), "equal", list(first.class_names))
    if weighted:
        weigh_by_validation(ensemble, arrays if arrays is not None else ensemble_arrays(project, ensemble))
    return ensemble


def has_validation(arrays: dict) -> bool:
    return all(len(a["val"].y) for a in arrays.values())


def weigh_members(ensemble: Ensemble, arrays: dict, method: str) -> None:
    """Set the members' weights (in place) by `method`, one of WEIGHTINGS."""
    if method == "greedy":
        weigh_greedy(ensemble, arrays)
    elif method == "accuracy":
        weigh_by_validation(ensemble, arrays)
    elif method == "equal":
        ensemble.weights = [1 / len(ensemble.members)] * len(ensemble.members)
        ensemble.weighting = "equal"
    else:
        raise UserError(f"{method!r} is not a way to weigh an ensemble; use {', '.join(WEIGHTINGS)}.")


def _validation_probabilities(
    ensemble: Ensemble, arrays: dict, what: str
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each member's probabilities on the validation pictures (and its accuracy, kept on the member)."""
    if not has_validation(arrays):
        raise UserError(f"{what} needs validation pictures, and this project has none.")
    probs = []
    for m in ensemble.members:
        val = arrays[m.decode_key]["val"]
        p = member_probabilities(m, val)
        m.val_accuracy = float(np.mean(p.argmax(1) == val.y))
        probs.append(p)
    return probs, arrays[ensemble.members[0].decode_key]["val"].y


def weigh_greedy(ensemble: Ensemble, arrays: dict) -> None:
    """Choose the weights on the validation pictures by greedy ensemble selection (in place): the
    ensemble is at least as accurate there as its best member."""
    from cnnstudio.core.ensemble.selection import greedy_weights

    probs, y = _validation_probabilities(ensemble, arrays, "Choosing the weights")
    ensemble.weights = greedy_weights(probs, y)
    ensemble.weighting = "greedy selection"


def weigh_by_validation(ensemble: Ensemble, arrays: dict) -> None:
    """Weight each member by its accuracy on the validation pictures (in place)."""
    _validation_probabilities(ensemble, arrays, "Weighting by validation accuracy")
    total = sum(m.val_accuracy for m in ensemble.members)
    if total > 0:
        ensemble.weights = [m.val_accuracy / total for m in ensemble.members]
    ensemble.weighting = "validation accuracy"


def ensemble_arrays(
    project: Project, ensemble: Ensemble, progress=None
) -> dict[DecodeKey, dict[str, SplitData]]:
    """The project's splits decoded for each way the members read pictures (usually one)."""
    index = project.index(check=True, progress=progress)
    out: dict[DecodeKey, dict[str, SplitData]] = {}
    for key in dict.fromkeys(m.decode_key for m in ensemble.members):
        height, width, channels, fit = key
        splits, names = project.arrays(index, height, width, channels, fit, progress=progress)
        if names != ensemble.class_names:
            raise UserError(
                "The project's classes changed since these runs were trained "
                f"(runs: {', '.join(ensemble.class_names)}; now: {', '.join(names)}). Train new runs."
            )
        out[key] = splits
    return out


def member_probabilities(member: Member, split: SplitData) -> np.ndarray:
    from cnnstudio.core.evaluate import predict_probabilities

    return predict_probabilities(member.model, split.X, member.preprocessing)


@dataclass
class EnsembleEvaluation:
    """The ensemble's report and each member's, on the same pictures."""

    report: EvaluationReport
    members: dict[str, EvaluationReport]

    def to_dict(self) -> dict[str, Any]:
        def short(r: EvaluationReport) -> dict[str, Any]:
            return {
                "accuracy": r.accuracy,
                "macro_f1": r.macro["f1"],
                "weighted_f1": r.weighted["f1"],
                "images": r.num_samples,
            }

        return {
            "split": self.report.split,
            "ensemble": {
                **short(self.report),
                "per_class": self.report.per_class,
                "confusion_matrix": [[int(v) for v in row] for row in self.report.confusion],
            },
            "members": {name: short(r) for name, r in self.members.items()},
        }


def evaluate_ensemble(
    project: Project, ensemble: Ensemble, split: str = "val", arrays: dict | None = None
) -> EnsembleEvaluation:
    """Evaluate the ensemble (and each member) on a split of the project, like a run."""
    from cnnstudio.core.evaluate import EvaluationReport

    arrays = arrays if arrays is not None else ensemble_arrays(project, ensemble)
    first = arrays[ensemble.members[0].decode_key][split]
    if len(first.y) == 0:
        raise UserError(f"The {'validation' if split == 'val' else split} split has no pictures.")
    total = np.zeros((len(first.y), len(ensemble.class_names)), dtype=np.float64)
    members = {}
    for m, w in zip(ensemble.members, ensemble.weights, strict=True):
        data = arrays[m.decode_key][split]
        probs = member_probabilities(m, data)
        total += w * probs
        members[m.name] = EvaluationReport.from_predictions(
            probs, data.y, class_names=ensemble.class_names, paths=data.paths, split=split, run=m.name
        )
    name = "ensemble of " + ", ".join(ensemble.names)
    report = EvaluationReport.from_predictions(
        total.astype(np.float32),
        first.y,
        class_names=ensemble.class_names,
        paths=first.paths,
        split=split,
        run=name,
    )
    return EnsembleEvaluation(report, members)
