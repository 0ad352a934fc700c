"""Write a .cnnmodel bundle (the format is described in bundle.py)."""

from __future__ import annotations

import io
import json
import math
import os
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.export.bundle import (
    BUNDLE_FORMAT,
    CALIBRATION_JSON,
    CARD_JSON,
    MODEL_JSON,
    SCHEMA_VERSION,
    WEIGHTS,
    portable_spec,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

    from cnnstudio.core.evaluate.calibration import Calibration
    from cnnstudio.core.spec import Preprocessing

# Fixed timestamp inside the zip: the same model exported twice gives the same bytes.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


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
    weights = safetensors_save(_state_float32(model), metadata={"format": BUNDLE_FORMAT})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        _add(zf, MODEL_JSON, _json_bytes(model_json), zipfile.ZIP_DEFLATED)
        _add(zf, WEIGHTS, weights, zipfile.ZIP_STORED)  # float weights hardly compress
        _add(zf, CARD_JSON, _json_bytes(card), zipfile.ZIP_DEFLATED)
        if calibration is not None and calibration.fitted:
            _add(zf, CALIBRATION_JSON, calibration.to_json_bytes(), zipfile.ZIP_DEFLATED)
    _write_atomic(path, buffer.getvalue())
    return path


def _state_float32(model: nn.Module) -> dict[str, torch.Tensor]:
    """A contiguous CPU copy of the state dict, floating tensors as float32 (what the app trains in)."""
    import torch

    out = {}
    for name, tensor in model.state_dict().items():
        t = tensor.detach().to("cpu")
        t = t.float() if t.is_floating_point() else t
        # clone: safetensors refuses tensors that share memory (tied weights).
        out[name] = t.clone(memory_format=torch.contiguous_format)
    return out


def _finite(data: Any) -> Any:
    """Plain data with NaN and infinities as None: JSON has no such numbers."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {str(k): _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def _json_bytes(data: Any) -> bytes:
    text = json.dumps(_finite(data), indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _add(zf: zipfile.ZipFile, name: str, data: bytes, compression: int) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its files are private (0600); a bundle gets the user's usual permissions.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
