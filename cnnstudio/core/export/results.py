"""What a prediction gives: one Prediction per picture, the problems, as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnstudio.core.atomic import write_bytes_atomic
from cnnstudio.core.trust.verdict import LOW_CONFIDENCE_LABEL, TOP_K

# The label of a prediction whose confidence is below the confidence threshold (not the same thing
# as a prediction flagged unknown, which keeps its best class: see core.trust.verdict).
UNKNOWN = LOW_CONFIDENCE_LABEL
CSV_COLUMNS = (
    ["path", "label", "confidence"]
    + [f"{k}_{i}" for i in range(1, TOP_K + 1) for k in ("top", "p")]
    + ["unknown", "unknown_score"]
)
UNKNOWN_FOLDER = "unknown"  # where sort_into puts pictures flagged as unlike the training pictures


@dataclass(frozen=True)
class Prediction:
    path: str
    label: str  # the class, or LOW_CONFIDENCE_LABEL when confidence < the threshold
    confidence: float  # the top class's probability
    top: list[tuple[str, float]]  # up to TOP_K (class, probability), most likely first
    # Unlike the training pictures (core.trust): the score and whether it is above
    # the threshold; None when the model is not calibrated.
    unknown: bool | None = None
    unknown_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "label": self.label,
            "confidence": self.confidence,
            "top": [[label, p] for label, p in self.top],
            "unknown": self.unknown,
            "unknown_score": self.unknown_score,
        }


@dataclass(frozen=True)
class PredictionProblem:
    path: str
    reason: str  # in plain words: "damaged or cut-off image (...)", "file not found (...)"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass
class PredictionResult:
    predictions: list[Prediction] = field(default_factory=list)
    problems: list[PredictionProblem] = field(default_factory=list)
    threshold: float = 0.0
    stopped: bool = False  # should_stop() ended it early
    unknown_threshold: float | None = None  # None: the model has no unknown score
    calibrated: bool = False  # False: confidences are the raw softmax (a run from before calibration)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.predictions:
            out[p.label] = out.get(p.label, 0) + 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "predictions": [p.to_dict() for p in self.predictions],
            "problems": [p.to_dict() for p in self.problems],
            "unknown_threshold": self.unknown_threshold,
            "calibrated": self.calibrated,
        }

    def csv_text(self) -> str:
        """One row per picture; skipped files are rows too, with an empty label and the reason."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*CSV_COLUMNS, "problem"])
        for p in self.predictions:
            cells: list[Any] = [p.path, p.label, f"{p.confidence:.6f}"]
            for i in range(TOP_K):
                label, prob = p.top[i] if i < len(p.top) else ("", None)
                cells += [label, "" if prob is None else f"{prob:.6f}"]
            cells += [
                "" if p.unknown is None else ("yes" if p.unknown else "no"),
                "" if p.unknown_score is None else f"{p.unknown_score:.6f}",
            ]
            writer.writerow([*cells, ""])
        for problem in self.problems:
            writer.writerow([problem.path] + [""] * (len(CSV_COLUMNS) - 1) + [problem.reason])
        return buffer.getvalue()

    def write_csv(self, path: Path | str) -> Path:
        path = Path(path)
        # utf-8-sig: Excel shows non-English class names and paths right only with the BOM.
        write_bytes_atomic(path, self.csv_text().encode("utf-8-sig"))
        return path

    def format_table(self, path_width: int = 40) -> str:
        if not self.predictions:
            return "No pictures were predicted."
        label_width = max(5, *(len(p.label) for p in self.predictions))
        lines = [f"{'picture':<{path_width}}  {'class':<{label_width}}  {'confidence':>10}  top {TOP_K}"]
        for p in self.predictions:
            shown = p.path if len(p.path) <= path_width else "..." + p.path[-(path_width - 3) :]
            top = ", ".join(f"{label} {prob:.1%}" for label, prob in p.top)
            mark = "  UNKNOWN (unlike the training pictures)" if p.unknown else ""
            lines.append(
                f"{shown:<{path_width}}  {p.label:<{label_width}}  {p.confidence:>10.1%}  {top}{mark}"
            )
        return "\n".join(lines)
