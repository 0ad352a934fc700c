"""EvaluationReport: every picture's prediction and the metrics, saved as evaluation.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from cnnstudio.core.atomic import write_bytes_atomic
from cnnstudio.core.errors import UserError
from cnnstudio.core.evaluate.label_issues import find_label_issues
from cnnstudio.core.evaluate.metrics import (
    METRIC_EXPLANATIONS,
    accuracy,
    confusion_counts,
    normalize_rows,
    per_class_metrics,
)
from cnnstudio.core.trust.verdict import is_unknown, unknown_flags

SCHEMA_VERSION = 1
FILE_NAME = "evaluation.json"
# In the JSON file: how many of the worst pictures to list for readers that do not recompute them.
SAVED_TOP_LOSSES = 20


def _shorten(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 3].rstrip() + "..."


@dataclass(eq=False)
class EvaluationReport:
    """Predictions for N pictures of K classes, and what they say about the model.

    ``probs`` (N, K) float32, ``y_true`` / ``y_pred`` (N,) int64 class indices, ``losses`` (N,) float32
    cross-entropy of the given label, ``confusion`` (K, K) int64 counts (row = true class, column =
    predicted), ``confusion_normalized`` the same divided by each row's total. Two reports are equal
    when their ``to_dict()`` are.
    """

    class_names: list[str]
    paths: list[str] | None
    y_true: np.ndarray
    y_pred: np.ndarray
    probs: np.ndarray
    losses: np.ndarray
    accuracy: float
    per_class: list[dict]
    macro: dict[str, float]
    weighted: dict[str, float]
    confusion: np.ndarray
    confusion_normalized: np.ndarray
    split: str | None = None
    run: str | None = None
    # From a calibrated run (core.trust): its summary (temperature, ECE, bins), each
    # picture's unknown score (N,) and the threshold above which a picture is "unknown".
    calibration: dict | None = None
    unknown_scores: np.ndarray | None = None
    unknown_threshold: float | None = None
    # Who labelled the graded pictures (core.pipeline.evaluate_run): {"pictures": N, "by_people": bool,
    # "accepted_suggestions": how many of them were suggestions accepted in bulk (0: only people's
    # labels grade), "apart": {"pictures", "accuracy"} of suggestions counted apart, or None}.
    graded: dict | None = None

    metric_explanations: ClassVar[dict[str, str]] = METRIC_EXPLANATIONS

    @classmethod
    def from_predictions(
        cls,
        probs: np.ndarray,
        y_true: np.ndarray | list[int],
        *,
        class_names: list[str],
        losses: np.ndarray | None = None,
        paths: list[str] | None = None,
        split: str | None = None,
        run: str | None = None,
    ) -> EvaluationReport:
        """Compute every metric from probabilities and labels.

        ``losses`` defaults to -log p[label] (clipped away from log 0); ``evaluate_model`` passes the
        exact values from the logits' log-softmax instead.
        """
        probs = np.asarray(probs, dtype=np.float32)
        y_true = np.asarray(y_true, dtype=np.int64)
        num_classes = len(class_names)
        if probs.ndim != 2 or probs.shape != (len(y_true), num_classes):
            raise ValueError(
                f"probabilities must have shape ({len(y_true)}, {num_classes}); got {probs.shape}"
            )
        if len(y_true) and (y_true.min() < 0 or y_true.max() >= num_classes):
            raise ValueError(f"labels must be class indices 0..{num_classes - 1}")
        if losses is None:
            picked = probs[np.arange(len(y_true)), y_true].astype(np.float64)
            losses = 0.0 - np.log(np.clip(picked, np.finfo(np.float32).tiny, None))
        y_pred = probs.argmax(axis=1).astype(np.int64) if len(y_true) else np.zeros(0, np.int64)
        per_class, macro, weighted = per_class_metrics(y_true, y_pred, num_classes, list(class_names))
        confusion = confusion_counts(y_true, y_pred, num_classes)
        return cls(
            class_names=list(class_names),
            paths=None if paths is None else [str(p) for p in paths],
            y_true=y_true,
            y_pred=y_pred,
            probs=probs,
            losses=np.asarray(losses, dtype=np.float32),
            accuracy=accuracy(y_true, y_pred),
            per_class=per_class,
            macro=macro,
            weighted=weighted,
            confusion=confusion,
            confusion_normalized=normalize_rows(confusion),
            split=split,
            run=run,
        )

    @property
    def num_samples(self) -> int:
        return len(self.y_true)

    def graded_words(self) -> str:
        """Who labelled the graded pictures, to follow "N validation pictures" ("" when not recorded);
        with suggestions counted apart, their accuracy after it."""
        if not self.graded:
            return ""
        k = int(self.graded.get("accepted_suggestions") or 0)
        text = (
            "labelled by people" if self.graded.get("by_people") else f"({k:,} of them accepted suggestions)"
        )
        apart = self.graded.get("apart")
        if apart:
            text += (
                f" · {100 * apart['accuracy']:.1f}% on {apart['pictures']:,} accepted suggestions, "
                "counted apart"
            )
        return text

    def _path(self, index: int) -> str | None:
        return None if self.paths is None else self.paths[index]

    def _row(self, index: int) -> dict:
        label, predicted = int(self.y_true[index]), int(self.y_pred[index])
        return {
            "index": index,
            "path": self._path(index),
            "label": self.class_names[label],
            "label_index": label,
            "predicted": self.class_names[predicted],
            "predicted_index": predicted,
            "confidence": float(self.probs[index, predicted]),
            "loss": float(self.losses[index]),
            **self._unknown(index),
        }

    def _unknown(self, index: int) -> dict:
        if self.unknown_scores is None:
            return {}
        score = float(self.unknown_scores[index])
        return {"unknown_score": score, "unknown": bool(is_unknown(score, self.unknown_threshold))}

    def flagged_unknown(self) -> list[dict]:
        """The pictures whose unknown score is above the threshold, most unlike the training ones first."""
        if self.unknown_scores is None or self.unknown_threshold is None:
            return []
        order = np.argsort(-self.unknown_scores.astype(np.float64), kind="stable")
        flags = unknown_flags(self.unknown_scores, self.unknown_threshold)
        return [self._row(int(i)) for i in order if flags[i]]

    def top_losses(self, n: int = 10) -> list[dict]:
        """The n pictures the model was most wrong about, highest loss first (ties: lower index first).

        Each: index, path, label, predicted (class names, with label_index / predicted_index),
        confidence (probability of the predicted class) and loss.
        """
        order = np.argsort(-self.losses.astype(np.float64), kind="stable")[: max(n, 0)]
        return [self._row(int(i)) for i in order]

    def label_issues(self, limit: int | None = None) -> list[dict]:
        """Pictures whose label is likely wrong (confident learning, label_issues.py), most doubtful first.

        Each: index, path, label, suggested (class names, with label_index / suggested_index),
        self_confidence (probability of the given label) and suggested_confidence. Found with this
        report's own predictions: if the model trained on these pictures, the list is optimistic.
        """
        issues = find_label_issues(self.probs, self.y_true)[:limit]
        return [
            {
                "index": issue["index"],
                "path": self._path(issue["index"]),
                "label": self.class_names[issue["label"]],
                "label_index": issue["label"],
                "suggested": self.class_names[issue["suggested"]],
                "suggested_index": issue["suggested"],
                "self_confidence": issue["self_confidence"],
                "suggested_confidence": issue["suggested_confidence"],
            }
            for issue in issues
        ]

    def to_dict(self) -> dict:
        """JSON-ready: metrics, confusion matrices and each picture's prediction and probabilities."""
        predictions = []
        for i, probabilities in enumerate(self.probs.tolist()):
            row = self._row(i)
            row["probabilities"] = probabilities
            predictions.append(row)
        return {
            "schema_version": SCHEMA_VERSION,
            "split": self.split,
            "run": self.run,
            "class_names": list(self.class_names),
            "num_samples": self.num_samples,
            "accuracy": self.accuracy,
            "per_class": [dict(row) for row in self.per_class],
            "macro": dict(self.macro),
            "weighted": dict(self.weighted),
            "confusion": self.confusion.tolist(),
            "confusion_normalized": self.confusion_normalized.tolist(),
            "predictions": predictions,
            # Derived, stored for readers of the file; load() ignores them and the methods recompute.
            "top_losses": self.top_losses(SAVED_TOP_LOSSES),
            "label_issues": self.label_issues(),
            "calibration": self.calibration,
            "unknown_threshold": self.unknown_threshold,
            "graded": self.graded,
        }

    @classmethod
    def from_dict(cls, data: dict) -> EvaluationReport:
        data = _migrate(data)
        predictions = data["predictions"]
        num_classes = len(data["class_names"])
        paths = [row["path"] for row in predictions]
        return cls(
            class_names=list(data["class_names"]),
            paths=None if all(p is None for p in paths) else paths,
            y_true=np.array([row["label_index"] for row in predictions], dtype=np.int64),
            y_pred=np.array([row["predicted_index"] for row in predictions], dtype=np.int64),
            probs=np.array([row["probabilities"] for row in predictions], dtype=np.float32).reshape(
                len(predictions), num_classes
            ),
            losses=np.array([row["loss"] for row in predictions], dtype=np.float32),
            accuracy=float(data["accuracy"]),
            per_class=[dict(row) for row in data["per_class"]],
            macro=dict(data["macro"]),
            weighted=dict(data["weighted"]),
            confusion=np.array(data["confusion"], dtype=np.int64).reshape(num_classes, num_classes),
            confusion_normalized=np.array(data["confusion_normalized"], dtype=np.float64).reshape(
                num_classes, num_classes
            ),
            split=data.get("split"),
            run=data.get("run"),
            calibration=data.get("calibration"),
            unknown_scores=(
                np.array([row["unknown_score"] for row in predictions], dtype=np.float32)
                if predictions and all("unknown_score" in row for row in predictions)
                else None
            ),
            unknown_threshold=data.get("unknown_threshold"),
            graded=data.get("graded"),
        )

    def save(self, path: Path | str) -> Path:
        """Write the report as JSON, atomically (a temp file renamed over the target).

        ``path`` is a file, or a folder to write ``evaluation.json`` into. Returns the file written.
        """
        path = Path(path)
        if path.is_dir():
            path = path / FILE_NAME
        # Compact: with one list of K probabilities per picture, indenting would multiply the size.
        text = json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)
        write_bytes_atomic(path, text.encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: Path | str) -> EvaluationReport:
        """Read a report written by save(); ``path`` is the file or the folder holding evaluation.json."""
        path = Path(path)
        if path.is_dir():
            path = path / FILE_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"There is no evaluation file at {path}. Evaluate the model first.") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UserError(
                f"{path} is damaged or is not an evaluation file. Evaluate the model again."
            ) from None
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError, IndexError):
            raise UserError(
                f"{path} is damaged or is not an evaluation file. Evaluate the model again."
            ) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EvaluationReport):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def format_table(self, name_width: int = 24) -> str:
        """Plain-text metrics: one row per class, then macro and weighted averages and accuracy."""
        width = max(
            [len("weighted avg"), len("class")] + [len(_shorten(n, name_width)) for n in self.class_names]
        )
        header = f"{'class':<{width}}  {'precision':>9}  {'recall':>9}  {'F1':>9}  {'support':>9}"
        lines = [header, "-" * len(header)]

        def row(name: str, precision: str, recall: str, f1: str, support: int) -> str:
            return f"{name:<{width}}  {precision:>9}  {recall:>9}  {f1:>9}  {support:>9}"

        for metrics in self.per_class:
            lines.append(
                row(
                    _shorten(metrics["class"], name_width),
                    f"{metrics['precision']:.3f}",
                    f"{metrics['recall']:.3f}",
                    f"{metrics['f1']:.3f}",
                    metrics["support"],
                )
            )
        lines.append("")
        for label, averages in (("macro avg", self.macro), ("weighted avg", self.weighted)):
            lines.append(
                row(
                    label,
                    f"{averages['precision']:.3f}",
                    f"{averages['recall']:.3f}",
                    f"{averages['f1']:.3f}",
                    self.num_samples,
                )
            )
        lines.append(row("accuracy", "", "", f"{self.accuracy:.3f}", self.num_samples))
        return "\n".join(lines)

    def format_confusion(self, *, normalized: bool = False, name_width: int = 10) -> str:
        """Plain-text confusion matrix: rows are the true classes, columns what the model predicted.

        Counts, or with ``normalized`` each row's shares in percent. Long class names are shortened.
        """
        names = [_shorten(n, name_width) for n in self.class_names]
        corner = "true \\ predicted"
        row_width = max([len(corner)] + [len(n) for n in names])
        if normalized:
            cells = [[f"{100 * v:.1f}%" for v in row] for row in self.confusion_normalized]
        else:
            cells = [[str(int(v)) for v in row] for row in self.confusion]
        col_width = max([len(n) for n in names] + [len(c) for row in cells for c in row] + [1])
        lines = [f"{corner:<{row_width}}  " + "  ".join(f"{n:>{col_width}}" for n in names)]
        for name, row in zip(names, cells, strict=True):
            lines.append(f"{name:<{row_width}}  " + "  ".join(f"{c:>{col_width}}" for c in row))
        return "\n".join(lines)


def _migrate(data: dict) -> dict:
    """Bring an older evaluation.json up to SCHEMA_VERSION (version 1 is the first; nothing to do yet)."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if not isinstance(version, int):
        raise UserError("This file is not a CNN Studio evaluation. Evaluate the model again.")
    if version > SCHEMA_VERSION:
        raise UserError(
            "This evaluation was saved by a newer version of CNN Studio. Update CNN Studio to open it."
        )
    return data
