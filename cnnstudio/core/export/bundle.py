"""The .cnnmodel bundle: a zip of model.json, weights.safetensors and card.json.

- model.json: {"format", "schema_version", "spec", "preprocessing", "class_names", "output"}; the
  model built from `spec` returns logits, the app applies the softmax.
- weights.safetensors: the model's state dict (float32 tensors; safetensors holds no code).
- card.json: the model card (evaluation metrics, dataset summary, training settings, date,
  library versions); see card.py.
- calibration.json and trust.safetensors (optional; bundles from before calibration have neither,
  and a score that keeps no bank needs no trust.safetensors): the run's temperature and unknown
  score, core.trust.Calibration.

Writing is in bundle_write.py; reading and checking model.json are here; the zip itself (its
members, their limits, the safe reader and the reproducible writer) is archive.py's.

Opening a bundle never runs code from it and never writes anything: the three members are read into
memory, parsed as JSON and safetensors only (no pickle anywhere), and anything else is refused with
one UserError (see archive.py), as is a model.json that does not describe a model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.errors import UserError
from cnnstudio.core.export.archive import (
    CALIBRATION_JSON,
    CARD_JSON,
    MODEL_JSON,
    TRUST_ARRAYS,
    WEIGHTS,
    check_model_json,
    parse_json,
    parse_weights,
    read_archive,
    refuse,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

    from cnnstudio.core.spec import Preprocessing

BUNDLE_SUFFIX = ".cnnmodel"
BUNDLE_FORMAT = "cnnstudio-model"
SCHEMA_VERSION = 1


@dataclass
class Bundle:
    """The contents of a .cnnmodel file, checked; weights as CPU tensors."""

    path: Path
    spec: dict[str, Any]
    preprocessing: Preprocessing
    class_names: list[str]
    weights: dict[str, torch.Tensor] = field(repr=False)
    card: dict[str, Any]
    calibration_json: bytes | None = field(default=None, repr=False)
    trust_arrays: bytes | None = field(default=None, repr=False)

    @property
    def calibration(self):
        """The bundle's Calibration (temperature 1, "not calibrated", for bundles without one)."""
        from cnnstudio.core.trust import Calibration

        if self.calibration_json is None:
            return Calibration()
        return Calibration.from_bytes(self.calibration_json, self.trust_arrays, self.path.name)

    def build_model(self) -> nn.Module:
        """The model (eval mode, CPU) with the bundle's weights; UserError when they do not fit."""
        from cnnstudio.core.spec import ModelSpec, build_model

        try:
            spec = ModelSpec.from_dict(self.spec)
            model = build_model(spec, len(self.class_names))
        except UserError as exc:
            raise refuse(self.path, f"its model design cannot be built ({str(exc).rstrip('.')})") from exc
        except Exception as exc:  # noqa: BLE001 - a damaged spec can fail in many ways
            raise refuse(self.path, f"its model design is damaged ({str(exc).rstrip('.')})") from exc
        load_weights_checked(model, self.weights, self.path)
        return model.eval()


def portable_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with every Backbone's weights set to "random".

    A spec may name a weights file on the exporting computer; the bundle's own weights replace
    them, and a bundle must never make the reader open a file it names.
    """
    spec = json.loads(json.dumps(spec))  # a deep copy of plain data
    for layer in spec.get("layers", []):
        if isinstance(layer, dict) and layer.get("type") == "Backbone":
            layer["weights"] = "random"
    return spec


def read_bundle(path: Path | str) -> Bundle:
    """Open and check a .cnnmodel file (see the module docstring); UserError when it is not a valid one."""
    path = Path(path)
    members = read_archive(path)
    model_json = parse_json(path, MODEL_JSON, members[MODEL_JSON])
    card = parse_json(path, CARD_JSON, members[CARD_JSON])
    spec, preprocessing, class_names = _check_model_json(path, model_json)
    weights = parse_weights(path, members[WEIGHTS])
    return Bundle(
        path,
        spec,
        preprocessing,
        class_names,
        weights,
        card,
        members.get(CALIBRATION_JSON),
        members.get(TRUST_ARRAYS),
    )


def _check_model_json(path: Path, data: dict[str, Any]) -> tuple[dict[str, Any], Preprocessing, list[str]]:
    from cnnstudio.core.spec import Preprocessing

    if data.get("kind") == "ensemble":  # core.ensemble.bundle's kind; core.models.load_model opens it
        raise refuse(
            path, "it holds an ensemble of models, which is opened with cnnstudio.core.models.load_model"
        )
    check_model_json(
        path,
        data,
        BUNDLE_FORMAT,
        SCHEMA_VERSION,
        "bundle",
        f"its {MODEL_JSON} is not a CNN Studio model description",
    )
    spec = data.get("spec")
    if not isinstance(spec, dict):
        raise refuse(path, f"its {MODEL_JSON} has no model design")
    names = data["class_names"]
    prep = data.get("preprocessing")
    if not isinstance(prep, dict):
        raise refuse(path, f"its {MODEL_JSON} has no preprocessing settings")
    try:
        preprocessing = Preprocessing.from_dict(prep)
    except UserError as exc:
        raise refuse(path, f"its preprocessing settings are damaged ({exc.__cause__ or exc})") from None
    if (
        preprocessing.channels not in ("RGB", "L")
        or preprocessing.fit not in ("stretch", "crop", "pad")
        or not (1 <= preprocessing.height <= 8192 and 1 <= preprocessing.width <= 8192)
        or len(preprocessing.mean) != preprocessing.num_channels
        or len(preprocessing.std) != preprocessing.num_channels
        or any(s == 0 for s in preprocessing.std)
    ):
        raise refuse(path, "its preprocessing settings are damaged")
    return portable_spec(spec), preprocessing, list(names)


def load_weights_checked(model: nn.Module, weights: dict[str, torch.Tensor], path: Path) -> None:
    """Load `weights` into `model` when every name and shape matches, else UserError."""
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    extra = sorted(set(weights) - set(own))
    wrong = [k for k in own if k in weights and tuple(weights[k].shape) != tuple(own[k].shape)]
    if missing or extra or wrong:
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing[:3])}" if missing else "",
                f"unknown {', '.join(extra[:3])}" if extra else "",
                f"wrong shape {', '.join(wrong[:3])}" if wrong else "",
            )
            if part
        )
        raise refuse(path, f"its weights do not fit its model design ({detail})")
    state = {k: v.to(own[k].dtype) for k, v in weights.items()}
    model.load_state_dict(state, strict=True)


def bundle_weights_for_init(path: Path | str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict, spec dict) of a bundle, for fine-tuning: Trainer(spec, ..., init_weights=state).

    The state dict fits a model built from the spec for the bundle's classes (len(class_names));
    fine-tuning on other classes needs a new last layer.
    """
    bundle = read_bundle(path)
    bundle.build_model()  # proves the weights fit the design before training starts from them
    return dict(bundle.weights), bundle.spec
