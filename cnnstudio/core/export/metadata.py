"""The metadata every export carries, so the model can be used without CNN Studio.

ONNX keeps it in the model's metadata_props; TorchScript inside the file (an extra file) and in a
JSON file beside it. Keys and values are the same everywhere:

- cnnstudio.preprocessing: JSON of core.spec.Preprocessing.to_dict(): height, width, channels
  ("RGB" or "L"), fit ("stretch", "crop" or "pad"), scale, mean, std. The input is the decoded
  picture x (uint8, channels first) as ((x * scale) - mean) / std, float32, shape (N, C, H, W).
- cnnstudio.classes: JSON list of class names; output column i is class i.
- cnnstudio.output: "probabilities" (the softmax is inside the exported model).
- cnnstudio.temperature: the calibrated temperature, already applied inside the model
  (probabilities = softmax(logits / T)); "1.0" for a model that was not calibrated.
- cnnstudio.unknown: JSON {"method", "threshold", "output": "unknown_score"} when the model has an
  unknown score, else "null". The model then has a second output, unknown_score (N,), computed
  inside the model by core.trust.unknown's module (method "layers": the larger of two scaled
  Mahalanobis distances to the training pictures, of the picture's reduced penultimate features and
  of its feature maps' channel statistics); a picture is unknown (unlike the training pictures) when
  unknown_score > threshold.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnnstudio.core.spec import Preprocessing
    from cnnstudio.core.trust import Calibration

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
PREPROCESSING_KEY = "cnnstudio.preprocessing"
CLASSES_KEY = "cnnstudio.classes"
OUTPUT_KEY = "cnnstudio.output"
VERSION_KEY = "cnnstudio.version"
TEMPERATURE_KEY = "cnnstudio.temperature"
UNKNOWN_KEY = "cnnstudio.unknown"
UNKNOWN_OUTPUT = "unknown_score"


def unknown_metadata(calibration: Calibration | None) -> dict | None:
    if calibration is None or not calibration.has_unknown:
        return None
    return {
        "method": calibration.method,
        "threshold": calibration.threshold,
        "output": UNKNOWN_OUTPUT,
    }


def export_metadata(
    preprocessing: Preprocessing, class_names: list[str], calibration: Calibration | None = None
) -> dict[str, str]:
    """Key -> string value (ONNX metadata values are strings; JSON inside where structured)."""
    from cnnstudio import __version__

    temperature = calibration.temperature if calibration is not None else 1.0
    return {
        PREPROCESSING_KEY: json.dumps(preprocessing.to_dict()),
        CLASSES_KEY: json.dumps(list(class_names), ensure_ascii=False),
        OUTPUT_KEY: OUTPUT_NAME,
        VERSION_KEY: __version__,
        TEMPERATURE_KEY: repr(float(temperature)),
        UNKNOWN_KEY: json.dumps(unknown_metadata(calibration)),
    }
