"""The metadata every export carries, so the model can be used without CNN Studio.

ONNX keeps it in the model's metadata_props; TorchScript inside the file (an extra file) and in a
JSON file beside it. Keys and values are the same everywhere:

- cnnstudio.preprocessing: JSON of core.spec.Preprocessing.to_dict(): height, width, channels
  ("RGB" or "L"), fit ("stretch", "crop" or "pad"), scale, mean, std. The input is the decoded
  picture x (uint8, channels first) as ((x * scale) - mean) / std, float32, shape (N, C, H, W).
- cnnstudio.classes: JSON list of class names; output column i is class i.
- cnnstudio.output: "probabilities" (the softmax is inside the exported model).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnnstudio.core.spec import Preprocessing

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
PREPROCESSING_KEY = "cnnstudio.preprocessing"
CLASSES_KEY = "cnnstudio.classes"
OUTPUT_KEY = "cnnstudio.output"
VERSION_KEY = "cnnstudio.version"


def export_metadata(preprocessing: Preprocessing, class_names: list[str]) -> dict[str, str]:
    """Key -> string value (ONNX metadata values are strings; JSON inside where structured)."""
    from cnnstudio import __version__

    return {
        PREPROCESSING_KEY: json.dumps(preprocessing.to_dict()),
        CLASSES_KEY: json.dumps(list(class_names), ensure_ascii=False),
        OUTPUT_KEY: OUTPUT_NAME,
        VERSION_KEY: __version__,
    }
