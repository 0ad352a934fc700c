"""torch.export format: an ExportedProgram saved as .pt2 (normalised float images in, calibrated
probabilities out, and the unknown score as a second output when the run has one).

PyTorch's successor to TorchScript: `torch.export.export` captures the model as one graph with a
dynamic batch size, `torch.export.save` writes it, and `torch.export.load(path).module()` runs it
(in Python, with a close PyTorch version; AOTInductor can compile it for C++). TorchScript stays
available for programs that need `torch.jit.load` or libtorch without Python.

The metadata (metadata.py) travels inside the file as the extra file "cnnstudio.json":
    extra = {"cnnstudio.json": ""}; program = torch.export.load(path, extra_files=extra)
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnstudio.core.errors import UserError

if TYPE_CHECKING:
    from torch import nn

    from cnnstudio.core.spec import Preprocessing
    from cnnstudio.core.trust import Calibration

EXTRA_FILE = "cnnstudio.json"
SUFFIX = ".pt2"
BATCH = 256


def write_exported_program(
    path: Path | str,
    model: nn.Module,
    preprocessing: Preprocessing,
    class_names: list[str],
    calibration: Calibration | None = None,
) -> Path:
    """Export `model` (logits out, as core.spec builds it) with the calibrated softmax added (and the
    unknown score as a second output when the calibration has one) and save it to `path`."""
    import torch

    from cnnstudio.core.export.probability_model import exportable
    from cnnstudio.core.export.torchscript_export import metadata_document

    path = Path(path)
    wrapped = exportable(model, calibration)
    example = torch.zeros(2, preprocessing.num_channels, preprocessing.height, preprocessing.width)
    document = json.dumps(metadata_document(preprocessing, class_names, calibration), indent=2, ensure_ascii=False)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.export.export(
                wrapped, (example,), dynamic_shapes=({0: torch.export.Dim.DYNAMIC},), strict=False
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.export.save(program, str(path), extra_files={EXTRA_FILE: document})
    except Exception as exc:  # noqa: BLE001 - export raises many kinds of errors
        raise UserError(
            f"This model cannot be exported with torch.export ({type(exc).__name__}: {exc}). "
            "Export it as a bundle, ONNX or TorchScript instead."
        ) from exc
    return path


def load_exported_program(path: Path | str):
    """(the runnable module, the metadata document) of a .pt2 export."""
    import torch

    extra = {EXTRA_FILE: ""}
    program = torch.export.load(str(path), extra_files=extra)
    return program.module(), json.loads(extra[EXTRA_FILE])


def exported_program_outputs(path: Path | str, X_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(probabilities, unknown scores or None) of a .pt2 export, preparing the input from its metadata."""
    from cnnstudio.core.export.metadata import PREPROCESSING_KEY
    from cnnstudio.core.export.outputs import module_outputs
    from cnnstudio.core.spec import Preprocessing

    module, document = load_exported_program(path)
    return module_outputs(module, Preprocessing.from_dict(document[PREPROCESSING_KEY]), X_uint8)
