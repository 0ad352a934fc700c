"""Ensembles of a project's runs: averaged probabilities, evaluated like a run, saved as one model.

from cnnstudio.core.ensemble import load_ensemble, ensemble_arrays, evaluate_ensemble, export_ensemble
ensemble = load_ensemble(project, ["20261128-101500-seed", "20261128-103000-tiny"])
arrays = ensemble_arrays(project, ensemble)            # the pictures, decoded once per input size
weigh_members(ensemble, arrays, "greedy")              # or "accuracy", "equal" (the default)
evaluation = evaluate_ensemble(project, ensemble, "test", arrays)   # .report: an EvaluationReport
export_ensemble(project, ensemble, "exports/digits-ensemble.onnx", arrays=arrays)  # verified

Importing this package does not import torch (build.py imports numpy only; the module, the bundle
reader and the exporter load torch when used).
"""

from cnnstudio.core.ensemble.build import (
    WEIGHTINGS,
    Ensemble,
    EnsembleEvaluation,
    Member,
    describe_input,
    ensemble_arrays,
    evaluate_ensemble,
    has_validation,
    load_ensemble,
    member_probabilities,
    weigh_by_validation,
    weigh_greedy,
    weigh_members,
)
from cnnstudio.core.ensemble.bundle import (
    ENSEMBLE_FORMAT,
    is_ensemble_bundle,
    load_ensemble_bundle,
    write_ensemble_bundle,
)
from cnnstudio.core.ensemble.export import ensemble_card, export_ensemble, format_for

__all__ = [
    "ENSEMBLE_FORMAT",
    "WEIGHTINGS",
    "Ensemble",
    "EnsembleEvaluation",
    "Member",
    "describe_input",
    "ensemble_arrays",
    "ensemble_card",
    "evaluate_ensemble",
    "export_ensemble",
    "format_for",
    "has_validation",
    "is_ensemble_bundle",
    "load_ensemble",
    "load_ensemble_bundle",
    "member_probabilities",
    "weigh_by_validation",
    "weigh_greedy",
    "weigh_members",
    "write_ensemble_bundle",
]
