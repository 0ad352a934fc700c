"""Trust: calibrated confidence and the "unknown" flag, fitted once per run and used everywhere.

- outputs: one forward pass -> logits, reduced penultimate features and feature-map statistics
  (Taps, model_outputs)
- temperature: temperature scaling with a held-out check, reliability bins, calibration error
- unknown: the "layers" score (UnknownParams, UnknownScore: the exports' graph uses it)
- store: Calibration, a run's calibration.json + trust.safetensors (and a bundle's)
- fit: fit_trust, the calibration of a trained model
- predict: predict_calibrated, probabilities + scores + flags in one call
- verdict: label, confidence and unknown flag of one picture (no torch; the GUI uses it)

Names are imported on first use, so `from cnnstudio.core.trust.verdict import verdict` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "Calibration": "store",
    "CalibratedOutput": "predict",
    "UnknownParams": "unknown",
    "UnknownScore": "unknown",
    "calibration_bins": "temperature",
    "choose_temperature": "temperature",
    "expected_calibration_error": "temperature",
    "fit_temperature": "temperature",
    "fit_trust": "fit",
    "is_unknown": "verdict",
    "last_linear": "outputs",
    "log_softmax": "outputs",
    "model_outputs": "outputs",
    "predict_calibrated": "predict",
    "softmax": "outputs",
    "verdict": "verdict",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
