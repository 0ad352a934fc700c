"""Load an export back and check it predicts what the app predicts.

The reference is the app's own calibrated probabilities (core.evaluate.predict_calibrated; for an
uncalibrated model, predict_probabilities). An export passes when it gives the same top-1 class for
every image and no probability differs by TOLERANCE or more; for a model with an unknown score,
also when no unknown score differs by SCORE_TOLERANCE or more and every picture is flagged unknown
the same way (but for scores within SCORE_TOLERANCE of the threshold).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnstudio.core.errors import UserError
from cnnstudio.core.export.outputs import BATCH, joined, module_outputs, normalize_numpy
from cnnstudio.core.trust.verdict import unknown_flags

TOLERANCE = 1e-4
SCORE_TOLERANCE = 1e-4  # relative to max(1, |the app's score|): scores are squared distances
# Two classes whose reference probabilities are this close are a tie: float rounding alone may
# order them either way, so picking the other one is not a disagreement.
TIE = 1e-6
FORMAT_NAMES = {
    "bundle": "Bundle",
    "onnx": "ONNX",
    "torchscript": "TorchScript",
    "pt2": "torch.export (.pt2)",
}


@dataclass(frozen=True)
class VerificationResult:
    format: str  # "bundle" | "onnx" | "torchscript" | "pt2"
    images: int
    same_top1: int  # images whose top class is the app's
    max_abs_diff: float  # largest |p_export - p_app| over all images and classes
    ok: bool
    on: str = "validation images"  # which images were used, in words
    unknown_checked: bool = False  # the export's unknown scores were compared too
    max_score_diff: float = 0.0  # largest |unknown score export - app|
    same_unknown: int = 0  # images flagged unknown (or not) as the app flags them

    @property
    def message(self) -> str:
        name = FORMAT_NAMES.get(self.format, self.format)
        where = f"{self.images:,} {self.on}" if self.images != 1 else f"1 {self.on.rstrip('s')}"
        if self.ok:
            unknown = "; the same unknown flags for all" if self.unknown_checked else ""
            return (
                f"{name} verified on {where}: same class for all, "
                f"largest difference {_short(self.max_abs_diff)}{unknown}"
            )
        problems = []
        if self.same_top1 < self.images:
            problems.append(
                f"a different class for {self.images - self.same_top1:,} of {self.images:,} images"
            )
        if not self.max_abs_diff < TOLERANCE:
            problems.append(
                f"probabilities differ by up to {_short(self.max_abs_diff)} (allowed: {TOLERANCE:g})"
            )
        if self.unknown_checked and self.same_unknown < self.images:
            problems.append(
                f"a different unknown flag for {self.images - self.same_unknown:,} of {self.images:,} images"
            )
        if self.unknown_checked and not self.max_score_diff < SCORE_TOLERANCE:
            problems.append(f"unknown scores differ by up to {_short(self.max_score_diff)} (relative)")
        return f"{name} export does NOT match the app on {where}: {'; '.join(problems)}"

    def to_dict(self) -> dict:
        return {
            "format": self.format,
            "images": self.images,
            "same_top1": self.same_top1,
            "max_abs_diff": self.max_abs_diff,
            "ok": self.ok,
            "on": self.on,
            "message": self.message,
        }


def _short(x: float) -> str:
    if x == 0:
        return "0"
    if not np.isfinite(x):
        return "not a number"
    return f"{x:.0e}".replace("e-0", "e-") if x < 0.01 else f"{x:.2f}"


def compare(
    fmt: str, reference: np.ndarray, probs: np.ndarray, on: str = "validation images"
) -> VerificationResult:
    """Agreement of an export's probabilities with the app's (both (N, K))."""
    reference = np.asarray(reference, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != reference.shape:
        # A wrong number of classes or images: nothing agrees.
        return VerificationResult(fmt, len(reference), 0, float("inf"), False, on)
    n = len(reference)
    if n == 0:
        return VerificationResult(fmt, 0, 0, 0.0, True, on)
    diff = np.abs(probs - reference)
    max_diff = float(diff.max()) if np.isfinite(diff).all() else float("inf")
    app_top = reference.argmax(axis=1)
    export_top = np.nan_to_num(probs, nan=-1.0).argmax(axis=1)
    rows = np.arange(n)
    same = (app_top == export_top) | (reference[rows, app_top] - reference[rows, export_top] < TIE)
    same_top1 = int(same.sum())
    return VerificationResult(fmt, n, same_top1, max_diff, same_top1 == n and max_diff < TOLERANCE, on)


def compare_unknown(
    result: VerificationResult,
    reference: np.ndarray,
    scores: np.ndarray | None,
    threshold: float,
) -> VerificationResult:
    """`result` with the export's unknown scores checked against the app's (both (N,))."""
    from dataclasses import replace

    reference = np.asarray(reference, dtype=np.float64)
    if scores is None or np.shape(scores) != reference.shape:
        return replace(result, unknown_checked=True, max_score_diff=float("inf"), same_unknown=0, ok=False)
    scores = np.asarray(scores, dtype=np.float64)
    diff = np.abs(scores - reference) / np.maximum(1.0, np.abs(reference))
    max_diff = (
        float(diff.max())
        if len(diff) and np.isfinite(diff).all()
        else (0.0 if not len(diff) else float("inf"))
    )
    same = (unknown_flags(scores, threshold) == unknown_flags(reference, threshold)) | (
        np.abs(reference - threshold) < SCORE_TOLERANCE
    )
    same_unknown = int(same.sum())
    ok = result.ok and max_diff < SCORE_TOLERANCE and same_unknown == len(reference)
    return replace(result, unknown_checked=True, max_score_diff=max_diff, same_unknown=same_unknown, ok=ok)


def onnx_probabilities(path: Path | str, X_uint8: np.ndarray) -> np.ndarray:
    """Run an exported ONNX file with onnxruntime, preparing the input from its own metadata."""
    return onnx_outputs(path, X_uint8)[0]


def onnx_outputs(path: Path | str, X_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(probabilities, unknown scores or None) of an ONNX export, as its users run it."""
    import onnxruntime as ort

    from cnnstudio.core.export.metadata import PREPROCESSING_KEY
    from cnnstudio.core.spec import Preprocessing

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    prep = Preprocessing.from_dict(json.loads(meta[PREPROCESSING_KEY]))
    input_name = session.get_inputs()[0].name
    with_unknown = len(session.get_outputs()) > 1
    probs, scores = [], []
    for i in range(0, len(X_uint8), BATCH):
        outputs = session.run(None, {input_name: normalize_numpy(X_uint8[i : i + BATCH], prep)})
        probs.append(outputs[0])
        if with_unknown:
            scores.append(outputs[1])
    return (
        joined(probs, np.zeros((0, 0), np.float32)),
        joined(scores, np.zeros(0, np.float32)) if with_unknown else None,
    )


def torchscript_probabilities(path: Path | str, X_uint8: np.ndarray) -> np.ndarray:
    """Run a TorchScript export with torch.jit.load, preparing the input from the metadata inside it."""
    return torchscript_outputs(path, X_uint8)[0]


def torchscript_outputs(path: Path | str, X_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(probabilities, unknown scores or None) of a TorchScript export."""
    from cnnstudio.core.export.metadata import PREPROCESSING_KEY
    from cnnstudio.core.export.torchscript_export import EXTRA_FILE, load_torchscript
    from cnnstudio.core.spec import Preprocessing

    extra = {EXTRA_FILE: ""}
    module = load_torchscript(path, extra_files=extra)
    prep = Preprocessing.from_dict(json.loads(extra[EXTRA_FILE])[PREPROCESSING_KEY])
    return module_outputs(module, prep, X_uint8)


def bundle_probabilities(path: Path | str, X_uint8: np.ndarray) -> np.ndarray:
    return bundle_outputs(path, X_uint8)[0]


def bundle_outputs(path: Path | str, X_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(calibrated probabilities, unknown scores or None) of a bundle, as the app predicts with it."""
    from cnnstudio.core.export.bundle import read_bundle
    from cnnstudio.core.trust import predict_calibrated

    bundle = read_bundle(path)
    out = predict_calibrated(bundle.build_model(), X_uint8, bundle.preprocessing, bundle.calibration)
    return out.probs, out.unknown_scores


def verify_export(
    fmt: str,
    path: Path | str,
    X_uint8: np.ndarray,
    reference: np.ndarray,
    *,
    on: str = "validation images",
    reference_scores: np.ndarray | None = None,
    unknown_threshold: float | None = None,
) -> VerificationResult:
    """Load the export at `path` the way its users will and compare it with `reference`.

    With `reference_scores` (the app's unknown scores) and `unknown_threshold`, the export's
    unknown scores and flags are compared too.

    Each format is run with the preprocessing stored in it (ONNX metadata, the TorchScript file's
    extra file, the bundle's model.json), so the stored metadata is checked too.
    """
    X = np.ascontiguousarray(X_uint8)
    try:
        if fmt == "onnx":
            probs, scores = onnx_outputs(path, X)
        elif fmt == "torchscript":
            probs, scores = torchscript_outputs(path, X)
        elif fmt == "bundle":
            probs, scores = bundle_outputs(path, X)
        elif fmt == "pt2":
            from cnnstudio.core.export.exported_program import exported_program_outputs

            probs, scores = exported_program_outputs(path, X)
        else:
            raise ValueError(f"unknown export format {fmt!r}")
    except (UserError, ValueError):
        raise
    except Exception as exc:  # noqa: BLE001 - a runtime that cannot load or run the file
        name = FORMAT_NAMES.get(fmt, fmt)
        raise UserError(
            f"The {name} export could not be loaded back to check it ({type(exc).__name__}: {exc})."
        ) from exc
    result = compare(fmt, reference, probs, on)
    if reference_scores is not None and unknown_threshold is not None:
        result = compare_unknown(result, reference_scores, scores, unknown_threshold)
    return result
