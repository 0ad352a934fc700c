"""TorchScript export: a traced model (normalised float images in, probabilities out; with an unknown
score, a tuple (probabilities, unknown_score), see metadata.py).

TorchScript rather than torch.export: `torch.jit.load` reads it in any PyTorch since 1.x and in
C++ (libtorch) without Python, which is what people who ask for "TorchScript" want. PyTorch 2.14
marks torch.jit as deprecated (in favour of torch.export's .pt2, which only torch.export.load of a
close PyTorch version reads); those warnings are silenced here, where the choice is deliberate.

The metadata (metadata.py) travels twice: inside the file as the extra file "cnnstudio.json"
(torch.jit.load(path, _extra_files={"cnnstudio.json": ""})) and beside it as <name>.json, written
atomically. A <name>.json that is not such a metadata file (someone's own file) is never replaced
without `overwrite` (the CLI's --force; the GUI asks): see `check_metadata_target`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.atomic import write_bytes_atomic
from cnnstudio.core.errors import UserError
from cnnstudio.core.export.metadata import (
    CLASSES_KEY,
    INPUT_NAME,
    OUTPUT_NAME,
    TEMPERATURE_KEY,
    UNKNOWN_OUTPUT,
    export_metadata,
)

if TYPE_CHECKING:
    from torch import nn

    from cnnstudio.core.spec import Preprocessing
    from cnnstudio.core.trust import Calibration

EXTRA_FILE = "cnnstudio.json"


def metadata_document(
    preprocessing: Preprocessing, class_names: list[str], calibration: Calibration | None = None
) -> dict[str, Any]:
    """The metadata as one JSON document: same keys as the ONNX metadata, values parsed."""
    doc: dict[str, Any] = {}
    for key, value in export_metadata(preprocessing, class_names, calibration).items():
        doc[key] = json.loads(value) if value[:1] in "[{n" else value
    doc[TEMPERATURE_KEY] = float(doc[TEMPERATURE_KEY])
    doc["input"] = f"{INPUT_NAME}: float32 (N, C, H, W), prepared as cnnstudio.preprocessing says"
    doc["output"] = f"{OUTPUT_NAME}: float32 (N, K), in the order of cnnstudio.classes"
    if doc.get("cnnstudio.unknown"):
        doc["output"] = (
            f"a tuple ({OUTPUT_NAME}: float32 (N, K), in the order of cnnstudio.classes; "
            f"{UNKNOWN_OUTPUT}: float32 (N,), unknown when above cnnstudio.unknown's threshold)"
        )
    return doc


def metadata_path_for(path: Path | str) -> Path:
    """model.pt -> model.json, beside it."""
    return Path(path).with_suffix(".json")


def write_torchscript(
    path: Path | str,
    model: nn.Module,
    preprocessing: Preprocessing,
    class_names: list[str],
    calibration: Calibration | None = None,
) -> Path:
    """Trace `model` (logits out, as core.spec builds it) with the softmax added and save it to `path`."""
    import torch

    from cnnstudio.core.export.probability_model import exportable

    path = Path(path)
    wrapped = exportable(model, calibration)
    example = torch.zeros(2, preprocessing.num_channels, preprocessing.height, preprocessing.width)
    document = json.dumps(
        metadata_document(preprocessing, class_names, calibration), indent=2, ensure_ascii=False
    )
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # torch.jit's deprecation notices; see the module docstring
            traced = torch.jit.trace(wrapped, example, check_trace=False)
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.jit.save(traced, str(path), _extra_files={EXTRA_FILE: document})
    except Exception as exc:  # noqa: BLE001 - tracing raises many kinds of errors
        raise UserError(
            f"This model cannot be exported to TorchScript ({type(exc).__name__}: {exc}). "
            "Export it as a bundle or ONNX instead."
        ) from exc
    return path


def foreign_metadata_file(path: Path | str) -> Path | None:
    """The file at <name>.json beside the TorchScript file `path` when it is there and is not one of
    our metadata files (so replacing it would lose someone's file); None when it is free to write."""
    target = metadata_path_for(path)
    if not target.exists():
        return None
    try:
        document = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return target
    return None if isinstance(document, dict) and CLASSES_KEY in document else target


def check_metadata_target(path: Path | str, overwrite: bool = False) -> None:
    """UserError when the metadata would replace a file that is not ours and `overwrite` is off."""
    foreign = foreign_metadata_file(path)
    if foreign is not None and not overwrite:
        raise UserError(
            f"{foreign} already exists and is not a CNN Studio metadata file; the TorchScript export "
            "writes its metadata there. Choose another name, or replace it (--force on the command line)."
        )


def write_torchscript_metadata(
    path: Path | str,
    preprocessing: Preprocessing,
    class_names: list[str],
    calibration: Calibration | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write the metadata beside the TorchScript file (atomically) and return its path."""
    check_metadata_target(path, overwrite)
    target = metadata_path_for(path)
    document = metadata_document(preprocessing, class_names, calibration)
    write_bytes_atomic(target, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return target


def load_torchscript(path: Path | str, extra_files: dict[str, str] | None = None):
    """torch.jit.load on the CPU, deprecation notices silenced; `extra_files` is filled as torch does."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.load(str(path), map_location="cpu", _extra_files=extra_files)
