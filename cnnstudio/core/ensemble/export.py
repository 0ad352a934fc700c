"""Save an ensemble as a bundle or as one ONNX graph, verified like every export.

The file is written under a temporary name, loaded back the way its users will load it (the
ensemble bundle reader; onnxruntime for ONNX), run on the validation pictures and compared with the
app's own ensemble probabilities (core.export.verify: same class for every picture, no probability
off by 1e-4 or more). Only then is it renamed into place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.core.errors import UserError

if TYPE_CHECKING:
    from cnnstudio.core.ensemble.build import Ensemble, EnsembleEvaluation
    from cnnstudio.core.export import ExportResult
    from cnnstudio.core.project import Project

VERIFY_IMAGES = 2000


def format_for(out: Path | str, fmt: str | None = None) -> str:
    """ "onnx" for a .onnx file name, else "bundle" (unless `fmt` says)."""
    if fmt is not None:
        if fmt not in ("bundle", "onnx"):
            raise UserError(f"An ensemble can be saved as a bundle or as ONNX, not {fmt!r}.")
        return fmt
    return "onnx" if str(out).lower().endswith(".onnx") else "bundle"


def ensemble_card(
    ensemble: Ensemble, project: Project | None, evaluations: dict[str, EnsembleEvaluation] | None = None
) -> dict[str, Any]:
    from cnnstudio.core.export.card import evaluation_summary, library_versions

    evaluations = evaluations or {}
    return {
        "schema_version": 1,
        "kind": "ensemble",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "name": "ensemble",
            "classes": list(ensemble.class_names),
            "parameters": sum(p.numel() for m in ensemble.members for p in m.model.parameters()),
        },
        "source": {"project": project.name if project is not None else None, "runs": ensemble.names},
        "members": ensemble.to_dict()["members"],
        "weighting": ensemble.weighting,
        "evaluation": {split: evaluation_summary(e.report.to_dict()) for split, e in evaluations.items()},
        "versions": library_versions(),
    }


def _spread(X: np.ndarray, limit: int) -> np.ndarray:
    if len(X) <= limit:
        return np.asarray(X)
    return np.asarray(X[np.linspace(0, len(X) - 1, limit).round().astype(int)])


def verification_images(ensemble: Ensemble, arrays: dict) -> tuple[np.ndarray, str]:
    """The validation pictures (test, then training ones when there are none), as the ensemble reads them."""
    splits = arrays[ensemble.members[0].decode_key]
    for split, words in (("val", "validation images"), ("test", "test images"), ("train", "training images")):
        if len(splits[split].y):
            images = _spread(splits[split].X, VERIFY_IMAGES)
            if len(images) < len(splits[split].X):
                words = f"of {len(splits[split].X):,} {words}"
            return images, words
    raise UserError("The project has no pictures to check the export on.")


def export_ensemble(
    project: Project,
    ensemble: Ensemble,
    out: Path | str,
    *,
    fmt: str | None = None,
    arrays: dict | None = None,
    evaluations: dict[str, EnsembleEvaluation] | None = None,
) -> ExportResult:
    """Write the ensemble to `out` (a bundle, or ONNX for a .onnx name or fmt="onnx"), verified."""
    from cnnstudio.core.ensemble.build import ensemble_arrays
    from cnnstudio.core.ensemble.bundle import load_ensemble_bundle, write_ensemble_bundle
    from cnnstudio.core.evaluate import predict_probabilities
    from cnnstudio.core.export import ExportResult, LoadedModel, compare, export_model
    from cnnstudio.core.export.job import output_path, write_verified

    fmt = format_for(out, fmt)
    ensemble.check_exportable()
    arrays = arrays if arrays is not None else ensemble_arrays(project, ensemble)
    images, on = verification_images(ensemble, arrays)
    out = output_path(out, fmt, f"{project.name}-ensemble")
    module = ensemble.module()
    if fmt == "onnx":
        loaded = LoadedModel(
            module,
            ensemble.preprocessing,
            list(ensemble.class_names),
            None,
            "ensemble of " + ", ".join(ensemble.names),
        )
        return export_model(loaded, "onnx", out, images, on=on)
    reference = predict_probabilities(module, images, ensemble.preprocessing)

    def verify(temp: Path):
        loaded = load_ensemble_bundle(temp)
        return compare(
            "bundle", reference, predict_probabilities(loaded.model, images, loaded.preprocessing), on
        )

    result = write_verified(
        out,
        lambda temp: write_ensemble_bundle(temp, ensemble, ensemble_card(ensemble, project, evaluations)),
        verify,
        refused="The ensemble was not saved, because it would not predict what the app predicts; "
        "please report this.",
    )
    return ExportResult(out, "bundle", result)
