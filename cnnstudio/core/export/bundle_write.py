"""Write a .cnnmodel bundle (the format is described in bundle.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.export.archive import (
    CALIBRATION_JSON,
    CARD_JSON,
    MODEL_JSON,
    TRUST_ARRAYS,
    WEIGHTS,
    json_bytes,
    state_float32,
    write_archive,
)
from cnnstudio.core.export.bundle import BUNDLE_FORMAT, SCHEMA_VERSION, portable_spec

if TYPE_CHECKING:
    from torch import nn

    from cnnstudio.core.spec import Preprocessing
    from cnnstudio.core.trust import Calibration


def write_bundle(
    path: Path | str,
    model: nn.Module,
    *,
    spec: dict[str, Any],
    preprocessing: Preprocessing,
    class_names: list[str],
    card: dict[str, Any],
    calibration: Calibration | None = None,
) -> Path:
    """Write a .cnnmodel file atomically (a temp file renamed into place) and return its path."""
    from safetensors.torch import save as safetensors_save

    path = Path(path)
    model_json = {
        "format": BUNDLE_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "spec": portable_spec(spec),
        "preprocessing": preprocessing.to_dict(),
        "class_names": list(class_names),
        "output": "logits",
    }
    weights = safetensors_save(state_float32(model), metadata={"format": BUNDLE_FORMAT})
    members = [
        (MODEL_JSON, json_bytes(model_json), True),
        (WEIGHTS, weights, False),  # float weights hardly compress
        (CARD_JSON, json_bytes(card), True),
    ]
    if calibration is not None and calibration.fitted:
        members.append((CALIBRATION_JSON, calibration.to_json_bytes(), True))
        arrays = calibration.arrays_bytes()
        if arrays is not None:
            members.append((TRUST_ARRAYS, arrays, False))
    return write_archive(path, members)
