"""A run's calibration: the temperature, the unknown score and threshold, and how they were fitted.

Stored beside the run's weights (and in a .cnnmodel bundle) as two files:
- calibration.json: small plain JSON (temperature, threshold, the score's method, k and scales, the
  reliability bins, how many validation pictures backed it), no arrays;
- trust.safetensors: the score's arrays, float32 and nothing else (Mahalanobis: a 256 x 256 matrix,
  a centre per class and an offset, under 300 kB; "layers" the same again for the feature maps;
  kNN: a bank of at most 512 x 256 numbers, 0.5 MB).
calibration.json names the arrays' shapes, so arrays that do not belong to it are refused.

Version 1 (before this package) kept a Mahalanobis score's matrices in calibration.json as base64:
such a file still gives its temperature; its unknown score is dropped with a note saying to
calibrate again (cnnstudio evaluate --recalibrate).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnstudio.core.atomic import write_bytes_atomic
from cnnstudio.core.errors import UserError
from cnnstudio.core.trust.outputs import softmax
from cnnstudio.core.trust.temperature import (
    FEW_CALIBRATION_PICTURES,
    calibration_bins,
    expected_calibration_error,
)
from cnnstudio.core.trust.unknown import (
    ARRAY_NAMES,
    MAHALANOBIS_ARRAYS,
    MAPS_ARRAYS,
    METHODS,
    PASS_RATE,
    UnknownParams,
)

FILE_NAME = "calibration.json"
ARRAYS_NAME = "trust.safetensors"
SCHEMA_VERSION = 2
# Below this validation accuracy one temperature cannot make every confidence honest: in
# benchmarks/bench_trust.py at 30 labels per class (seeds 0, 3 and 4; seed, tiny, small-vgg,
# Flatten->Dense; 8x8 digits, MNIST, colour photos), even the temperature fitted on the unlabelled
# pictures' hidden truth itself left a confidence range 10-28 points off in every cell whose model was
# right on 24-81% of pictures (tiny, photos, MNIST small-vgg), and within 5 points in every cell at
# 86-95% (0.2-4.7 points).
WEAK_ACCURACY = 0.85
NOT_CALIBRATED = "not calibrated (trained before calibration existed; temperature 1)"
OLD_UNKNOWN = (
    "its unknown score is from an older CNN Studio and is not used: it is calibrated again when the "
    "app evaluates it (or by cnnstudio evaluate --recalibrate), to flag pictures unlike the training ones"
)


@dataclass(eq=False)
class Calibration:
    """What a run needs to give calibrated probabilities and unknown scores.

    ``temperature``: divide the logits by it before the softmax. ``unknown``: the unknown score's data
    (core.trust.unknown); ``threshold``: a picture whose score is above it is unknown. ``fitted``
    False: a run from before calibration (T = 1, no unknown score).
    """

    temperature: float = 1.0
    threshold: float | None = None
    unknown: UnknownParams | None = None
    fitted: bool = False
    ece_before: float | None = None
    ece_after: float | None = None
    bins_before: list[dict] = field(default_factory=list)
    bins_after: list[dict] = field(default_factory=list)
    val_count: int = 0
    pass_rate: float = PASS_RATE
    temperature_rule: str = ""
    note: str = ""  # why the temperature was kept at 1, in plain words
    outdated: bool = False  # a version-1 calibration whose unknown score is not used

    @property
    def has_unknown(self) -> bool:
        return self.unknown is not None and self.threshold is not None

    @property
    def method(self) -> str | None:
        return self.unknown.method if self.unknown is not None else None

    @property
    def few_pictures(self) -> bool:
        """Too few validation pictures back the calibration for its confidences to be more than a guide."""
        return self.fitted and self.val_count < FEW_CALIBRATION_PICTURES

    @property
    def val_accuracy(self) -> float | None:
        """The share of validation pictures the model got right (from the reliability bins)."""
        counted = [b for b in self.bins_after if b.get("count") and b.get("accuracy") is not None]
        total = sum(int(b["count"]) for b in counted)
        return sum(b["count"] * b["accuracy"] for b in counted) / total if total else None

    @property
    def weak_model(self) -> bool:
        """Right on too few validation pictures for calibrated confidences to be more than a guide."""
        accuracy = self.val_accuracy
        return self.fitted and accuracy is not None and accuracy < WEAK_ACCURACY

    @property
    def caveat(self) -> str:
        """Why the confidences are only a rough guide, in plain words ("" when nothing says so)."""
        words = []
        if self.few_pictures:
            words.append(
                f"Only {self.val_count} validation pictures back this calibration, fewer than the "
                f"{FEW_CALIBRATION_PICTURES} it needs to be reliable: label more pictures."
            )
        if self.weak_model:
            words.append(
                f"The model gets only {self.val_accuracy:.0%} of its validation pictures right; at that "
                "level no calibration makes every confidence honest: train longer, label more pictures "
                "or try another design."
            )
        if words:
            words.append("Until then, treat its confidences as a rough guide.")
        return " ".join(words)

    @property
    def status(self) -> str:
        if not self.fitted:
            return NOT_CALIBRATED
        if self.note:  # why T stayed 1 (the caveat is in summary()["caveat"])
            return self.note
        text = f"calibrated on {self.val_count} validation pictures (temperature {self.temperature:.3f})"
        caveat = self.caveat
        if caveat:
            text += "; " + caveat[:1].lower() + caveat[1:].rstrip(".")
        return text

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return softmax(logits, self.temperature)

    def unknown_scores(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray | None:
        """Scores of reduced features and the model's own logits (core.trust.model_outputs)."""
        if not self.has_unknown:
            return None
        return self.unknown.scores(
            features, np.asarray(logits, dtype=np.float32) / np.float32(self.temperature)
        )

    def summary(self, logits: np.ndarray | None = None, y: np.ndarray | None = None) -> dict[str, Any]:
        """For evaluate --json: temperature, ece_before, ece_after, bins (after), bins_before, threshold.

        With ``logits`` and labels ``y`` of some pictures, the ECE and bins are measured on them
        (before: temperature 1; after: this calibration's); else they are the validation split's.
        """
        if logits is not None and y is not None:
            before, after = softmax(logits), self.probabilities(logits)
            measured = {
                "ece_before": expected_calibration_error(before, y),
                "ece_after": expected_calibration_error(after, y),
                "bins": calibration_bins(after, y),
                "bins_before": calibration_bins(before, y),
            }
            return {**self.summary(), **measured}
        return {
            "calibrated": self.fitted,
            "status": self.status,
            "temperature": self.temperature,
            "temperature_rule": self.temperature_rule or None,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "bins": self.bins_after,
            "bins_before": self.bins_before,
            "unknown_method": self.method if self.has_unknown else None,
            "unknown_threshold": self.threshold,
            "validation_pictures": self.val_count,
            "few_validation_pictures": self.few_pictures,
            "validation_accuracy": self.val_accuracy,
            "weak_model": self.weak_model,
            "caveat": self.caveat,
        }

    # -- files -------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        u = self.unknown
        return {
            "schema_version": SCHEMA_VERSION,
            "fitted": self.fitted,
            "temperature": self.temperature,
            "temperature_rule": self.temperature_rule,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "bins_before": self.bins_before,
            "bins_after": self.bins_after,
            "val_count": self.val_count,
            "note": self.note,
            "unknown": None
            if u is None
            else {
                "method": u.method,
                "threshold": self.threshold,
                "pass_rate": self.pass_rate,
                "k": u.k,
                "knn_scale": u.knn_scale,
                "msp_scale": u.msp_scale,
                "block": u.block,
                "width": u.width,
                "in_width": u.in_width,
                "maps_width": u.maps_width,
                "feature_scale": u.feature_scale,
                "maps_scale": u.maps_scale,
                "arrays": {name: list(array.shape) for name, array in sorted(u.arrays.items())},
            },
        }

    def to_json_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode("utf-8")

    def arrays_bytes(self) -> bytes | None:
        """trust.safetensors' bytes (None when the score keeps no arrays)."""
        if self.unknown is None or not self.unknown.arrays:
            return None
        from safetensors.numpy import save

        return save({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in self.unknown.arrays.items()})

    @classmethod
    def from_bytes(cls, data: bytes, arrays: bytes | None, where: str) -> Calibration:
        """From calibration.json's and trust.safetensors' bytes; UserError in words when damaged."""
        try:
            return cls._from_dict(json.loads(data.decode("utf-8")), arrays)
        except UserError:
            raise
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, RuntimeError):
            raise UserError(
                f"The calibration in {where} is damaged. Calibrate the run again "
                "(cnnstudio evaluate --recalibrate) or train a new run."
            ) from None

    @classmethod
    def _from_dict(cls, data: dict[str, Any], arrays: bytes | None) -> Calibration:
        if not isinstance(data, dict) or not isinstance(data.get("schema_version"), int):
            raise ValueError("not a calibration")
        if data["schema_version"] > SCHEMA_VERSION:
            raise UserError("This calibration was saved by a newer CNN Studio. Update CNN Studio to use it.")
        temperature = float(data["temperature"])
        if not (np.isfinite(temperature) and temperature > 0):
            raise ValueError("bad temperature")
        cal = cls(
            temperature=temperature,
            fitted=bool(data.get("fitted", True)),
            ece_before=data.get("ece_before"),
            ece_after=data.get("ece_after"),
            bins_before=list(data.get("bins_before") or []),
            bins_after=list(data.get("bins_after") or []),
            val_count=int(data.get("val_count") or 0),
            temperature_rule=str(data.get("temperature_rule") or ""),
            note=str(data.get("note") or ""),
        )
        unknown = data.get("unknown") or None
        if unknown and data["schema_version"] < 2:
            cal.note = f"{cal.note}; {OLD_UNKNOWN}" if cal.note else OLD_UNKNOWN
            cal.outdated = True
        elif unknown:
            cal.threshold = float(unknown["threshold"])
            cal.pass_rate = float(unknown.get("pass_rate", PASS_RATE))
            cal.unknown = _unknown_from(unknown, arrays)
            if not np.isfinite(cal.threshold):
                raise ValueError("bad threshold")
        return cal

    def save(self, run_dir: Path | str) -> Path:
        """trust.safetensors first, then calibration.json (which names the bank's shape)."""
        run_dir = Path(run_dir)
        arrays = self.arrays_bytes()
        if arrays is not None:
            write_bytes_atomic(run_dir / ARRAYS_NAME, arrays)
        path = run_dir / FILE_NAME
        write_bytes_atomic(path, self.to_json_bytes())
        if arrays is None:
            (run_dir / ARRAYS_NAME).unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, run_dir: Path | str) -> Calibration:
        """A run's calibration; an uncalibrated Calibration (T = 1) when the run has none."""
        path = Path(run_dir) / FILE_NAME
        if not path.exists():
            return cls()
        arrays_path = Path(run_dir) / ARRAYS_NAME
        arrays = arrays_path.read_bytes() if arrays_path.exists() else None
        return cls.from_bytes(path.read_bytes(), arrays, str(path))


def _unknown_from(data: dict[str, Any], arrays: bytes | None) -> UnknownParams:
    method = data.get("method")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    shapes = data.get("arrays") or {}
    if not isinstance(shapes, dict) or not set(shapes) <= set(ARRAY_NAMES):
        raise ValueError("unknown arrays")
    loaded: dict[str, np.ndarray] = {}
    if shapes:
        if arrays is None:
            raise ValueError("arrays missing")
        from safetensors.numpy import load

        try:
            stored = load(arrays)
        except Exception as exc:  # noqa: BLE001 - safetensors' own error type for a damaged file
            raise ValueError("arrays damaged") from exc
        for name, shape in shapes.items():
            array = stored.get(name)
            if array is None or list(array.shape) != list(shape) or array.dtype != np.float32:
                raise ValueError(f"{name} does not fit")
            if not np.isfinite(array).all():
                raise ValueError(f"{name} not finite")
            loaded[name] = array
    maps_width = int(data.get("maps_width") or 0)
    needed = {"mahalanobis": set(MAHALANOBIS_ARRAYS), "msp": set()}.get(method, {"bank"})
    if method == "layers":
        needed = set(MAHALANOBIS_ARRAYS) | (set(MAPS_ARRAYS) if maps_width else set())
    if set(loaded) != needed:
        raise ValueError("arrays missing")
    params = UnknownParams(
        method=method,
        arrays=loaded,
        k=int(data["k"]),
        knn_scale=float(data["knn_scale"]),
        msp_scale=float(data["msp_scale"]),
        block=int(data["block"]),
        width=int(data["width"]),
        in_width=int(data["in_width"]),
        maps_width=maps_width,
        feature_scale=float(data.get("feature_scale", 1.0)),
        maps_scale=float(data.get("maps_scale", 1.0)),
    )
    bank = params.bank
    if bank is not None and (bank.shape[1] != params.width or not 1 <= params.k <= len(bank)):
        raise ValueError("shapes do not fit")
    for prefix, width in (("", params.width), ("maps_", params.maps_width)):
        if f"{prefix}offset" in loaded:
            m, p, c = (loaded[f"{prefix}{name}"] for name in MAHALANOBIS_ARRAYS)
            if m.shape != (width,) or p.shape != (width, width) or c.shape[1:] != (width,):
                raise ValueError("shapes do not fit")
    scales = (params.knn_scale, params.msp_scale, params.feature_scale, params.maps_scale)
    if not (all(np.isfinite(x) and x > 0 for x in scales) and params.block >= 1):
        raise ValueError("bad scales")
    return params
