"""Suggestions for unlabelled pictures from a trained run, ordered so the most useful come first.

Useful-first order (margin sampling with variety): each picture's margin is the difference between
its two highest probabilities; a small margin means the model hesitates between two classes, so the
person's answer teaches it most. Pictures are grouped by predicted class, each group sorted by margin
(smallest first), and the groups are taken round-robin (the group with the most doubtful picture
first), so the first pictures of the queue are spread over the classes instead of all being of the
one class the model finds hardest. Pictures flagged "unknown" (unlike the training pictures) go last:
they may belong to no class at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.core.dataset.split import BULK, CONFIRMED
from cnnstudio.core.errors import UserError

if TYPE_CHECKING:
    from cnnstudio.core.dataset import DatasetIndex
    from cnnstudio.core.labels.edits import LabelEdit, LabelEditor
    from cnnstudio.core.project import Project


@dataclass
class Predictions:
    probs: np.ndarray  # (N, K) float32, calibrated when the run has a temperature
    unknown: np.ndarray  # (N,) bool: the picture looks unlike the training pictures
    class_names: list[str]
    calibrated: bool = False


def predict_for_run(
    run_dir: Path | str,
    paths: list[str],
    cache_dir: Path | str,
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    batch_size: int = 256,
) -> Predictions:
    """The run's class probabilities and "unknown" flags for these pictures (the one place they come from).

    Pictures are decoded through the project's decode cache at the run's input size. The
    probabilities are calibrated with the run's temperature and the flags come from its unknown
    score (core.trust, calibration.json in the run); a run trained before calibration
    existed gives plain softmax probabilities and no picture is flagged.
    """
    from cnnstudio.core.dataset import DecodeCache
    from cnnstudio.core.spec import Preprocessing
    from cnnstudio.core.train import load_run_weights
    from cnnstudio.core.trust import Calibration, predict_calibrated

    run_dir = Path(run_dir)
    model, _spec, prep_dict, class_names = load_run_weights(run_dir, which="best")
    prep = Preprocessing.from_dict(prep_dict) if isinstance(prep_dict, dict) else prep_dict
    channels = 1 if prep.channels == "L" else 3
    calibration = Calibration.load(run_dir)
    if not paths:
        empty = np.zeros((0, len(class_names)), np.float32)
        return Predictions(empty, np.zeros(0, bool), class_names, calibration.fitted)
    X = DecodeCache(Path(cache_dir)).load(
        list(paths), prep.height, prep.width, channels, prep.fit, progress=progress, should_stop=should_stop
    )
    out = predict_calibrated(model, X, prep, calibration, batch_size=batch_size)
    unknown = np.zeros(len(paths), dtype=bool) if out.unknown is None else np.asarray(out.unknown, bool)
    return Predictions(np.asarray(out.probs, np.float32), unknown, list(class_names), calibration.fitted)


def margins(probs: np.ndarray) -> np.ndarray:
    """Top probability minus the second one, per row (1.0 for a single column)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape[1] < 2:
        return np.ones(len(probs))
    top2 = -np.sort(-probs, axis=1)[:, :2]
    return top2[:, 0] - top2[:, 1]


def order_useful_first(probs: np.ndarray, unknown: np.ndarray | None = None) -> list[int]:
    """Row indices, most useful to label first: smallest margin, round-robin over predicted classes."""
    probs = np.asarray(probs)
    n = len(probs)
    if n == 0:
        return []
    unknown = np.zeros(n, bool) if unknown is None else np.asarray(unknown, bool)
    margin = margins(probs)
    predicted = probs.argmax(axis=1)
    out: list[int] = []
    for flag in (False, True):
        groups = []
        for c in np.unique(predicted):
            rows = np.flatnonzero((predicted == c) & (unknown == flag))
            if len(rows):
                groups.append(list(rows[np.argsort(margin[rows], kind="stable")]))
        groups.sort(key=lambda g: (margin[g[0]], g[0]))
        depth = max((len(g) for g in groups), default=0)
        for k in range(depth):
            out.extend(int(g[k]) for g in groups if k < len(g))
    return out


@dataclass
class Suggestion:
    path: str
    label: str
    confidence: float
    unknown: bool
    margin: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "label": self.label,
            "confidence": round(float(self.confidence), 6),
            "unknown": bool(self.unknown),
        }


@dataclass
class SuggestionSet:
    run: str
    class_names: list[str]
    suggestions: list[Suggestion] = field(default_factory=list)  # useful-first
    calibrated: bool = False

    def above(self, threshold: float) -> list[Suggestion]:
        """Suggestions that accepting "all above" takes (`accept_all_above`)."""
        return accept_all_above(self.suggestions, threshold)

    def by_path(self) -> dict[str, Suggestion]:
        return {s.path: s for s in self.suggestions}


def check_run_classes(run_classes: list[str], project_classes: list[str], run_name: str) -> None:
    if list(run_classes) != list(project_classes):
        raise UserError(
            f"The run {run_name} was trained for other classes than the project has now "
            f"(run: {', '.join(run_classes)}; now: {', '.join(project_classes)}). "
            "Train a new run on the current classes first."
        )


def accept_all_above(suggestions: list[Suggestion], threshold: float) -> list[Suggestion]:
    """The one rule of accepting in bulk ("Accept all above P" in the Data section, `cnnstudio suggest
    --accept-above P`): confidence >= P, and never a picture flagged unknown, whatever its confidence
    (it looks unlike every training picture, so its confident class means little)."""
    return [s for s in suggestions if s.confidence >= threshold and not s.unknown]


def suggest(
    project: Project,
    run: str | Path | None = None,
    *,
    index: DatasetIndex | None = None,
    paths: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SuggestionSet:
    """A suggestion for every unlabelled picture (or for `paths`), useful-first.

    `run`: a run id or folder; default the best finished run. Plain errors: no finished run, no
    unlabelled pictures, a run trained for other classes than the project has now.
    """
    from cnnstudio.core.labels.edits import LabelEditor
    from cnnstudio.core.runs import best_finished_run, find_run, read_json_object

    if run is None:
        run_dir = best_finished_run(project)
    elif isinstance(run, Path) or Path(str(run)).is_dir():
        run_dir = Path(run)
    else:
        run_dir = find_run(project, str(run))
    if index is None:
        index = project.index(check=True)
    editor = LabelEditor(project, index)
    run_classes = list(read_json_object(run_dir / "config.json").get("class_names") or [])
    check_run_classes(run_classes, editor.classes(), run_dir.name)
    if paths is None:
        paths = editor.unlabelled_queue()
        if not paths:
            raise UserError("Every usable picture of this project has a label: there is nothing to suggest.")
    pred = predict_for_run(run_dir, paths, project.cache_dir, progress=progress, should_stop=should_stop)
    order = order_useful_first(pred.probs, pred.unknown)
    margin = margins(pred.probs)
    top = pred.probs.argmax(axis=1) if len(paths) else np.zeros(0, int)
    out = SuggestionSet(run=run_dir.name, class_names=pred.class_names, calibrated=pred.calibrated)
    for i in order:
        out.suggestions.append(
            Suggestion(
                path=paths[i],
                label=pred.class_names[int(top[i])],
                confidence=float(pred.probs[i, top[i]]),
                unknown=bool(pred.unknown[i]),
                margin=float(margin[i]),
            )
        )
    return out


def accept_suggestions(
    editor: LabelEditor,
    suggestions: list[Suggestion],
    run: str,
    above: float | None = None,
    *,
    source: str = BULK,
) -> LabelEdit:
    """A LabelEdit giving each picture its suggested label, marked as an accepted suggestion.

    With `above`, only the suggestions `accept_all_above` takes. `source`: BULK (accepted without
    being looked at one by one: such pictures train and never grade a model, see
    core.dataset.split.split_suggestions) or CONFIRMED (a person looked at this picture and confirmed
    it, e.g. Enter in the queue: a person's label, which may grade). Apply it with
    `editor.apply(edit)`; `editor.revert(edit)` undoes it.
    """
    if source not in (BULK, CONFIRMED):
        raise ValueError(f"source must be {BULK!r} or {CONFIRMED!r}")
    chosen = suggestions if above is None else accept_all_above(suggestions, above)
    marks = {
        s.path: {"label": s.label, "run": run, "confidence": round(float(s.confidence), 6), "source": source}
        for s in chosen
    }
    return editor.accept(marks)


def accepted_paths(project: Project, index: DatasetIndex, *, bulk_only: bool = False) -> list[str]:
    """Pictures whose label was recorded by accepting a suggestion (and not changed since); with
    `bulk_only`, only those accepted in bulk (the ones that train and never grade)."""
    from cnnstudio.core.dataset.split import is_bulk_mark

    out = []
    for s in index.samples:
        mark = project.accepted.get(project.key(s.path))
        if mark is not None and s.label == mark.get("label") and (not bulk_only or is_bulk_mark(mark)):
            out.append(s.path)
    return out
