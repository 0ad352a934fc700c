"""The ensemble bundle: a .cnnmodel file of the kind "ensemble".

Same zip layout and the same safe reader as a single model's bundle (core.export.bundle: three
members, size limits, no pickle, nothing written while reading):

- model.json: {"format": "cnnstudio-ensemble", "schema_version": 1, "kind": "ensemble",
  "preprocessing" (what the ensemble takes: its first member's), "class_names", "output": "logits"
  (log of the averaged probabilities: a softmax gives them back), "weighting",
  "members": [{"run", "spec", "preprocessing", "weight"}, ...]}
- weights.safetensors: every member's weights, member i's under "members.<i>."
- card.json: the members, their weights and validation accuracy, the ensemble's evaluation.

The zip is read and written by core.export.archive (the same members, limits and checks as a single
model's bundle). `load_ensemble_bundle(path)` gives a core.export LoadedModel whose model is the
EnsembleModule, so the Predictor and the export verification take it like any model;
core.models.load_model opens either kind of bundle (or a project, or a run).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.errors import UserError
from cnnstudio.core.export.archive import (
    CARD_JSON,
    MODEL_JSON,
    WEIGHTS,
    check_model_json,
    json_bytes,
    parse_json,
    parse_weights,
    read_archive,
    refuse,
    state_float32,
    write_archive,
)

if TYPE_CHECKING:
    from cnnstudio.core.ensemble.build import Ensemble
    from cnnstudio.core.export import LoadedModel

ENSEMBLE_FORMAT = "cnnstudio-ensemble"
SCHEMA_VERSION = 1
_PEEK_BYTES = 4 * 2**20


def write_ensemble_bundle(path: Path | str, ensemble: Ensemble, card: dict[str, Any]) -> Path:
    """Write the ensemble as a .cnnmodel file (atomically, reproducible bytes) and return its path."""
    from safetensors.torch import save as safetensors_save

    from cnnstudio.core.export.bundle import portable_spec

    ensemble.check_exportable()
    if any(m.spec is None for m in ensemble.members):
        raise UserError(
            "Only runs of models made in the designer (from a model design) can be saved as a bundle."
        )
    module = ensemble.module()
    model_json = {
        "format": ENSEMBLE_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "kind": "ensemble",
        "preprocessing": ensemble.preprocessing.to_dict(),
        "class_names": list(ensemble.class_names),
        "output": "logits",
        "weighting": ensemble.weighting,
        "members": [
            {
                "run": m.name,
                "spec": portable_spec(m.spec),
                "preprocessing": m.preprocessing.to_dict(),
                "weight": w,
            }
            for m, w in zip(ensemble.members, ensemble.weights, strict=True)
        ],
    }
    weights = safetensors_save(state_float32(module), metadata={"format": ENSEMBLE_FORMAT})
    return write_archive(
        path,
        [
            (MODEL_JSON, json_bytes(model_json), True),
            (WEIGHTS, weights, False),
            (CARD_JSON, json_bytes(card), True),
        ],
    )


def is_ensemble_bundle(path: Path | str) -> bool:
    """True when `path` is a zip whose model.json says it is an ensemble (reads model.json only)."""
    import json

    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo(MODEL_JSON)
            if info.file_size > _PEEK_BYTES:
                return False
            with zf.open(info) as f:
                data = json.loads(f.read(_PEEK_BYTES + 1).decode("utf-8"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError):
        return False
    return isinstance(data, dict) and data.get("format") == ENSEMBLE_FORMAT


def load_ensemble_bundle(path: Path | str) -> LoadedModel:
    """Open and check an ensemble bundle; UserError when it is not a valid one."""
    from cnnstudio.core.ensemble.build import Ensemble, Member
    from cnnstudio.core.export import LoadedModel
    from cnnstudio.core.export.bundle import load_weights_checked, portable_spec
    from cnnstudio.core.spec import ModelSpec, Preprocessing, build_model

    path = Path(path)
    if not path.is_file():
        raise UserError(f"The model file {path} does not exist.")
    members = read_archive(path)
    data = parse_json(path, MODEL_JSON, members[MODEL_JSON])
    card = parse_json(path, CARD_JSON, members[CARD_JSON])
    check_model_json(path, data, ENSEMBLE_FORMAT, SCHEMA_VERSION, "ensemble", "it is not an ensemble")
    names, entries = data["class_names"], data.get("members")
    if not isinstance(entries, list) or len(entries) < 2 or not all(isinstance(e, dict) for e in entries):
        raise refuse(path, f"its {MODEL_JSON} does not list the ensemble's models")
    weights = parse_weights(path, members[WEIGHTS])
    try:
        preprocessing = Preprocessing.from_dict(data["preprocessing"])
        loaded_members, member_weights = [], []
        for i, entry in enumerate(entries):
            spec = portable_spec(entry["spec"])
            model = build_model(ModelSpec.from_dict(spec), len(names))
            prefix = f"members.{i}."
            own = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
            load_weights_checked(model, own, path)
            member_weights.append(float(entry["weight"]))
            loaded_members.append(
                Member(
                    Path(str(entry.get("run", f"member {i + 1}"))),
                    model.eval(),
                    Preprocessing.from_dict(entry["preprocessing"]),
                    list(names),
                    spec,
                )
            )
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file can fail in many ways
        raise refuse(path, f"its ensemble description is damaged ({type(exc).__name__}: {exc})") from exc
    known = {f"members.{i}." for i in range(len(entries))}
    if any(not any(k.startswith(p) for p in known) for k in weights):
        raise refuse(path, "its weights hold models it does not describe")
    ensemble = Ensemble(loaded_members, member_weights, str(data.get("weighting", "equal")), list(names))
    if ensemble.preprocessing.to_dict() != preprocessing.to_dict():
        raise refuse(path, "its preprocessing does not match its first model's")
    return LoadedModel(
        ensemble.module(),
        preprocessing,
        list(names),
        None,
        f"{path.name} (ensemble of {len(entries)} models)",
        bundle_path=path,
        card=card,
    )
