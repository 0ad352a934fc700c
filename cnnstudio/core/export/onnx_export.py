"""ONNX export: normalised float images in (dynamic batch axis), probabilities out, metadata inside.

torch.onnx.export runs with dynamo=False (the TorchScript-based exporter): the newer dynamo
exporter needs the onnxscript package, and for the plain feed-forward models the app builds both
give the same graph. The export is written to memory, checked with onnx.checker, given its
metadata_props (see metadata.py), then written to disk.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from cnnstudio.core.errors import UserError
from cnnstudio.core.export.metadata import INPUT_NAME, OUTPUT_NAME, UNKNOWN_OUTPUT, export_metadata

if TYPE_CHECKING:
    from torch import nn

    from cnnstudio.core.spec import Preprocessing
    from cnnstudio.core.trust import Calibration

OPSET = 17  # read by onnxruntime since 1.14 (2023) and by most other runtimes


def write_onnx(
    path: Path | str,
    model: nn.Module,
    preprocessing: Preprocessing,
    class_names: list[str],
    *,
    opset: int = OPSET,
    calibration: Calibration | None = None,
) -> Path:
    """Export `model` (logits out, as core.spec builds it) with the softmax added, to `path`.

    With a `calibration`, the logits are divided by its temperature and, when it has an unknown
    score, the graph has a second output, unknown_score (see metadata.py).
    """
    import onnx
    import torch

    from cnnstudio.core.export.probability_model import exportable

    path = Path(path)
    wrapped = exportable(model, calibration)
    outputs = [OUTPUT_NAME, UNKNOWN_OUTPUT] if wrapped.with_unknown else [OUTPUT_NAME]
    example = torch.zeros(2, preprocessing.num_channels, preprocessing.height, preprocessing.width)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript-based exporter warns that it is the old one; that is our choice.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped,
                (example,),
                buffer,
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=outputs,
                dynamic_axes={INPUT_NAME: {0: "batch"}, **{name: {0: "batch"} for name in outputs}},
                opset_version=opset,
                do_constant_folding=True,
            )
    except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds of errors
        raise UserError(
            f"This model cannot be exported to ONNX ({type(exc).__name__}: {exc}). "
            "Export it as a bundle or TorchScript instead."
        ) from exc
    proto = onnx.load_from_string(buffer.getvalue())
    proto.doc_string = (
        "CNN Studio image classifier. Input: pictures prepared as the cnnstudio.preprocessing "
        "metadata says, float32 (N, C, H, W). Output: class probabilities (N, K), classes in "
        "the order of cnnstudio.classes"
        + (
            "; and unknown_score (N,): above the threshold in cnnstudio.unknown, the picture is "
            "unlike the training pictures."
            if wrapped.with_unknown
            else "."
        )
    )
    del proto.metadata_props[:]
    for key, value in export_metadata(preprocessing, class_names, calibration).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(proto.SerializeToString())
    return path


def read_onnx_metadata(path: Path | str) -> dict[str, str]:
    """The metadata_props of an ONNX file (key -> string)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}
