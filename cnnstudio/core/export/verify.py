"""Load an export back and check it predicts what the app predicts.

The reference is core.evaluate.predict_probabilities on the app's own model. An export passes when
it gives the same top-1 class for every image and no probability differs by TOLERANCE or more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnstudio.core.errors import UserError

if TYPE_CHECKING:
    from cnnstudio.core.spec import Preprocessing

TOLERANCE = 1e-4
# Two classes whose reference probabilities are this close are a tie: float rounding alone may
# order them either way, so picking the other one is not a disagreement.
TIE = 1e-6
FORMAT_NAMES = {
    "bundle": "Bundle",
    "onnx": "ONNX",
    "torchscript": "TorchScript",
    "pt2": "torch.export (.pt2)",
}
BATCH = 256


@dataclass(frozen=True)
class VerificationResult:
    format: str  # "bundle" | "onnx" | "torchscript" | "pt2"
    images: int
    same_top1: int  # images whose top class is the app's
    max_abs_diff: float  # largest |p_export - p_app| over all images and classes
    ok: bool
    on: str = "validation images"  # which images were used, in words

    @property
    def message(self) -> str:
        name = FORMAT_NAMES.get(self.format, self.format)
        where = f"{self.images:,} {self.on}" if self.images != 1 else f"1 {self.on.rstrip('s')}"
        if self.ok:
            return (
                f"{name} verified on {where}: same class for all, "
                f"largest difference {_short(self.max_abs_diff)}"
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


def normalize_numpy(X_uint8: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """((x * scale) - mean) / std in float32, as a programmer does it from the metadata alone."""
    x = np.asarray(X_uint8, dtype=np.float32) * np.float32(preprocessing.scale)
    mean = np.asarray(preprocessing.mean, dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(preprocessing.std, dtype=np.float32).reshape(1, -1, 1, 1)
    return (x - mean) / std


def onnx_probabilities(path: Path | str, X_uint8: np.ndarray) -> np.ndarray:
    """Run an exported ONNX file with onnxruntime, preparing the input from its own metadata."""
    import onnxruntime as ort

    from cnnstudio.core.export.metadata import PREPROCESSING_KEY
    from cnnstudio.core.spec import Preprocessing

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    prep = Preprocessing.from_dict(json.loads(meta[PREPROCESSING_KEY]))
    input_name = session.get_inputs()[0].name
    out = [
        session.run(None, {input_name: normalize_numpy(X_uint8[i : i + BATCH], prep)})[0]
        for i in range(0, len(X_uint8), BATCH)
    ]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def torchscript_probabilities(path: Path | str, X_uint8: np.ndarray) -> np.ndarray:
    """Run a TorchScript export with torch.jit.load, preparing the input from the metadata inside it."""
    import torch

    from cnnstudio.core.export.metadata import PREPROCESSING_KEY
    from cnnstudio.core.export.torchscript_export import EXTRA_FILE, load_torchscript
    from cnnstudio.core.spec import Preprocessing

    extra = {EXTRA_FILE: ""}
    module = load_torchscript(path, extra_files=extra)
    prep = Preprocessing.from_dict(json.loads(extra[EXTRA_FILE])[PREPROCESSING_KEY])
    out = []
    with torch.inference_mode():
        for i in range(0, len(X_uint8), BATCH):
            x = torch.from_numpy(normalize_numpy(X_uint8[i : i + BATCH], prep))
            out.append(module(x).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def bundle_probabilities(path: Path | str, X_uint8: np.ndarray) -> np.ndarray:
    from cnnstudio.core.evaluate import predict_probabilities
    from cnnstudio.core.export.bundle import read_bundle

    bundle = read_bundle(path)
    return predict_probabilities(bundle.build_model(), X_uint8, bundle.preprocessing)


def verify_export(
    fmt: str,
    path: Path | str,
    X_uint8: np.ndarray,
    reference: np.ndarray,
    *,
    on: str = "validation images",
) -> VerificationResult:
    """Load the export at `path` the way its users will and compare it with `reference`.

    Each format is run with the preprocessing stored in it (ONNX metadata, the TorchScript file's
    extra file, the bundle's model.json), so the stored metadata is checked too.
    """
    X = np.ascontiguousarray(X_uint8)
    try:
        if fmt == "onnx":
            probs = onnx_probabilities(path, X)
        elif fmt == "torchscript":
            probs = torchscript_probabilities(path, X)
        elif fmt == "bundle":
            probs = bundle_probabilities(path, X)
        elif fmt == "pt2":
            from cnnstudio.core.export.exported_program import exported_program_probabilities

            probs = exported_program_probabilities(path, X)
        else:
            raise ValueError(f"unknown export format {fmt!r}")
    except (UserError, ValueError):
        raise
    except Exception as exc:  # noqa: BLE001 - a runtime that cannot load or run the file
        name = FORMAT_NAMES.get(fmt, fmt)
        raise UserError(
            f"The {name} export could not be loaded back to check it ({type(exc).__name__}: {exc})."
        ) from exc
    return compare(fmt, reference, probs, on)
