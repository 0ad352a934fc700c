"""Open any trained model to predict with: `load_model(source, run=None)`.

A .cnnmodel file of either kind (a single model's bundle, core.export; an ensemble's,
core.ensemble), a project folder (its newest run with weights, or `run`) or a run folder.

This module sits above both packages so that imports run one way: core.ensemble builds on
core.export (its bundle uses core.export.archive and its models load as core.export.LoadedModel),
and core.export knows nothing of ensembles. The CLI and the GUI open the models people choose here.
"""

from __future__ import annotations

from pathlib import Path

from cnnstudio.core.ensemble.bundle import is_ensemble_bundle, load_ensemble_bundle
from cnnstudio.core.export.loaded import LoadedModel
from cnnstudio.core.export.loaded import load_model as load_single_model


def load_model(source: Path | str, *, run: str | None = None) -> LoadedModel:
    """Any model, as a LoadedModel (eval mode, CPU, with its preprocessing and class names)."""
    path = Path(source).expanduser()
    if path.is_file() and is_ensemble_bundle(path):
        return load_ensemble_bundle(path)
    return load_single_model(path, run=run)


__all__ = ["LoadedModel", "load_model"]
