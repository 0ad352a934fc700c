"""Likely label errors among the training pictures, from out-of-sample probabilities.

A run has learnt its training pictures, so its own probabilities on them are optimistic: it has
partly memorised any wrong label. As cleanlab does (`estimate_cv_predicted_probabilities`), the
training pictures are split into k stratified folds; for each fold a fresh model with the run's
design and settings trains on the other k-1 folds and predicts the held-out fold. Every picture
then has a probability from a model that never saw it, and confident learning
(core.evaluate.label_issues) flags the likely errors. The cost is k trainings on (k-1)/k of the
training pictures. Training one fold is behind `fit_fold`, so a cheaper fold (a frozen backbone on
cached features) can take its place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnstudio.core.errors import UserError

DEFAULT_FOLDS = 5  # cleanlab's default cv_n_folds


def stratified_folds(y: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Fold number per sample: each class's samples shuffled (seeded) and dealt round-robin."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    out = np.zeros(len(y), dtype=np.int64)
    offset = 0
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        rng.shuffle(rows)
        out[rows] = (np.arange(len(rows)) + offset) % folds
        offset += len(rows)
    return out


def fit_fold(spec: Any, config: Any, class_names: list[str], preprocessing: Any, train, X_held) -> np.ndarray:
    """Train a fresh model on `train` = (X, y) and return its probabilities (N, K) on `X_held`."""
    from cnnstudio.core.evaluate import predict_probabilities
    from cnnstudio.core.train import Trainer

    trainer = Trainer(spec, config, class_names=class_names, preprocessing=preprocessing, run_dir=None)
    history = trainer.fit(train, None)
    if history.error is not None:
        raise UserError(f"Training a cross-validation fold failed: {history.error}")
    return predict_probabilities(trainer.model, X_held, preprocessing, device=trainer.device)


def out_of_sample_probabilities(
    X: np.ndarray,
    y: np.ndarray,
    *,
    spec: Any,
    config: Any,
    class_names: list[str],
    preprocessing: Any,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    fit: Callable[..., np.ndarray] = fit_fold,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """(N, K) probabilities, each row from a model trained on the other folds."""
    y = np.asarray(y, dtype=np.int64)
    if folds < 2:
        raise UserError("Cross-validation needs at least 2 folds.")
    smallest = int(np.bincount(y, minlength=len(class_names)).min()) if len(y) else 0
    if smallest < folds:
        raise UserError(
            f"Every class needs at least {folds} training pictures for {folds}-fold cross-validation; "
            f"the smallest has {smallest}. Use fewer folds or label more pictures."
        )
    fold_of = stratified_folds(y, folds, seed)
    probs = np.zeros((len(y), len(class_names)), dtype=np.float32)
    for k in range(folds):
        if should_stop is not None and should_stop():
            raise UserError("Stopped.")
        held = np.flatnonzero(fold_of == k)
        kept = np.flatnonzero(fold_of != k)
        probs[held] = fit(spec, config, class_names, preprocessing, (X[kept], y[kept]), X[held])
        if progress is not None:
            progress(k + 1, folds)
    return probs


@dataclass
class LabelErrorReport:
    run: str
    folds: int
    seconds: float
    pictures: int
    class_names: list[str]
    issues: list[dict[str, Any]] = field(default_factory=list)  # path, label, suggested, confidences

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "folds": self.folds,
            "seconds": round(self.seconds, 2),
            "pictures": self.pictures,
            "issues": self.issues,
        }


def training_label_errors(
    project,
    run: str | Path | None = None,
    *,
    folds: int = DEFAULT_FOLDS,
    epochs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LabelErrorReport:
    """Likely label errors among the project's training pictures, most doubtful first.

    The folds train with the run's design and settings (`epochs` overrides its number of epochs).
    """
    from cnnstudio.core.evaluate import find_label_issues
    from cnnstudio.core.runs import best_finished_run, find_run, read_json_object
    from cnnstudio.core.spec import Preprocessing
    from cnnstudio.core.suggest.suggestions import check_run_classes
    from cnnstudio.core.train import TrainConfig

    if run is None:
        run_dir = best_finished_run(project)
    elif isinstance(run, Path):
        run_dir = run
    else:
        run_dir = find_run(project, str(run))
    saved = read_json_object(run_dir / "config.json")
    if saved.get("spec") is None:
        raise UserError(f"The run {run_dir.name} has no model design to train the folds with.")
    prep = Preprocessing.from_dict(saved["preprocessing"])
    config = TrainConfig.from_dict(saved.get("train") or {})
    if epochs is not None:
        config.epochs = epochs
    index = project.index(check=True)
    splits, names = project.arrays(index, prep.height, prep.width, 1 if prep.channels == "L" else 3, prep.fit)
    check_run_classes(list(saved.get("class_names") or []), names, run_dir.name)
    train = splits["train"]
    if len(train.y) == 0:
        raise UserError("There are no training pictures to check.")
    start = time.perf_counter()
    probs = out_of_sample_probabilities(
        train.X,
        train.y,
        spec=saved["spec"],
        config=config,
        class_names=names,
        preprocessing=prep,
        folds=folds,
        seed=config.seed,
        progress=progress,
        should_stop=should_stop,
    )
    seconds = time.perf_counter() - start
    issues = [
        {
            "path": train.paths[item["index"]],
            "label": names[item["label"]],
            "suggested": names[item["suggested"]],
            "self_confidence": round(item["self_confidence"], 6),
            "suggested_confidence": round(item["suggested_confidence"], 6),
        }
        for item in find_label_issues(probs, train.y)
    ]
    return LabelErrorReport(run_dir.name, folds, seconds, len(train.y), names, issues)
