"""The model card that travels in a bundle: what the model is, how it was trained and how well it did."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from cnnstudio.core.runs import CONFIG_FILE, STATE_FILE

CARD_VERSION = 1
LIBRARIES = ("cnnstudio", "torch", "torchvision", "numpy", "pillow", "safetensors", "onnx", "onnxruntime")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def evaluation_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The metrics of a saved EvaluationReport, without its per-picture rows (paths stay private)."""
    keys = ("split", "run", "num_samples", "accuracy", "macro", "weighted", "per_class", "confusion")
    return {k: report[k] for k in keys if k in report}


def model_card(
    *,
    class_names: list[str],
    spec: dict[str, Any] | None,
    params: int,
    run_dir: Path | None = None,
    project_name: str | None = None,
    evaluation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """card.json: evaluation metrics, dataset summary, training settings, date, library versions.

    `evaluation` is an EvaluationReport's to_dict(); without it, the run's saved evaluation.json
    (test split preferred, as core.pipeline stores it) is used when there is one.
    """
    config = _read_json(run_dir / CONFIG_FILE) if run_dir else None
    state = _read_json(run_dir / STATE_FILE) if run_dir else None
    if evaluation is None and run_dir is not None:
        evaluation = _read_json(run_dir / "evaluation.json")
    config = config or {}
    run_info = config.get("run_info") or {}
    return {
        "schema_version": CARD_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "name": (spec or {}).get("name"),
            "classes": list(class_names),
            "parameters": params,
        },
        "source": {
            "project": project_name or run_info.get("project"),
            "run": run_dir.name if run_dir else None,
        },
        "evaluation": evaluation_summary(evaluation) if evaluation else None,
        "dataset": {
            "classes": run_info.get("class_names") or list(class_names),
            "images": config.get("images"),
            "split": run_info.get("split"),
            "manifest_hash": run_info.get("dataset_manifest_hash"),
        },
        "training": {
            "settings": config.get("train"),
            "device": config.get("device"),
            "precision": config.get("precision_label") or config.get("precision"),
            "started_from": config.get("init_weights"),
            "result": {k: state.get(k) for k in ("status", "epochs_done", "best") if k in state}
            if state
            else None,
            "versions": config.get("versions"),
        },
        "versions": library_versions(),
    }
