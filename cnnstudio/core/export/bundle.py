"""The .cnnmodel bundle: a zip of model.json, weights.safetensors and card.json.

- model.json: {"format", "schema_version", "spec", "preprocessing", "class_names", "output"}; the
  model built from `spec` returns logits, the app applies the softmax.
- weights.safetensors: the model's state dict (float32 tensors; safetensors holds no code).
- card.json: the model card (evaluation metrics, dataset summary, training settings, date,
  library versions); see card.py.
- calibration.json (optional; bundles from before calibration have none): the run's temperature
  and unknown-score data, core.evaluate.calibration.Calibration.

Writing is in bundle_write.py; reading and its checks are here.

Opening a bundle never runs code from it and never writes anything: the three members are read into
memory, parsed as JSON and safetensors only (no pickle anywhere), and anything else is refused with
one UserError: a file that is not a zip, a member with an absolute or climbing path, a member with
another name, a member larger than its limit (checked while decompressing, so a "zip bomb" cannot
fill the memory), a missing member, damaged JSON or weights.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO

from cnnstudio.core.errors import UserError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from cnnstudio.core.spec import Preprocessing

BUNDLE_SUFFIX = ".cnnmodel"
BUNDLE_FORMAT = "cnnstudio-model"
SCHEMA_VERSION = 1
MODEL_JSON = "model.json"
WEIGHTS = "weights.safetensors"
CARD_JSON = "card.json"
CALIBRATION_JSON = "calibration.json"
MEMBERS = (MODEL_JSON, WEIGHTS, CARD_JSON)
OPTIONAL_MEMBERS = (CALIBRATION_JSON,)

# Limits on what a bundle may hold, uncompressed. The largest backbone the app offers
# (EfficientNet-B0) is about 20 MB of weights; the card of a 1,000-class model with its confusion
# matrix is a few MB. Module constants so that tests can lower them.
MAX_MEMBER_BYTES = {
    MODEL_JSON: 4 * 2**20,
    CARD_JSON: 32 * 2**20,
    WEIGHTS: 2 * 2**30,
    CALIBRATION_JSON: 64 * 2**20,
}
MAX_FILE_BYTES = 3 * 2**30


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

    @property
    def calibration(self):
        """The bundle's Calibration (temperature 1, "not calibrated", for bundles without one)."""
        from cnnstudio.core.evaluate.calibration import Calibration

        if self.calibration_json is None:
            return Calibration()
        return Calibration.from_json_bytes(self.calibration_json, self.path.name)

    def build_model(self) -> nn.Module:
        """The model (eval mode, CPU) with the bundle's weights; UserError when they do not fit."""
        from cnnstudio.core.spec import ModelSpec, build_model

        try:
            spec = ModelSpec.from_dict(self.spec)
            model = build_model(spec, len(self.class_names))
        except UserError as exc:
            raise _refuse(self.path, f"its model design cannot be built ({str(exc).rstrip('.')})") from exc
        except Exception as exc:  # noqa: BLE001 - a damaged spec can fail in many ways
            raise _refuse(self.path, f"its model design is damaged ({str(exc).rstrip('.')})") from exc
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


def _refuse(path: Path, reason: str) -> UserError:
    return UserError(
        f"{path.name} cannot be opened: {reason}. Only model files exported by CNN Studio (.cnnmodel) can be opened."
    )


def read_bundle(path: Path | str) -> Bundle:
    """Open and check a .cnnmodel file (see the module docstring); UserError when it is not a valid one."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"The model file {path} does not exist.")
    if not path.is_file():
        raise _refuse(path, "it is a folder, not a model file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _refuse(path, f"it is larger ({size / 2**30:.1f} GB) than a model file can be")
        with open(path, "rb") as f:
            members = _read_members(path, f)
    except OSError as exc:
        raise UserError(f"The model file {path} cannot be read ({exc.strerror or exc}).") from exc
    model_json = _parse_json(path, MODEL_JSON, members[MODEL_JSON])
    card = _parse_json(path, CARD_JSON, members[CARD_JSON])
    spec, preprocessing, class_names = _check_model_json(path, model_json)
    weights = _parse_weights(path, members[WEIGHTS])
    return Bundle(path, spec, preprocessing, class_names, weights, card, members.get(CALIBRATION_JSON))


def _unsafe_name(name: str) -> bool:
    pure = PurePosixPath(name.replace("\\", "/"))
    return (
        name.startswith(("/", "\\"))
        or (len(name) > 1 and name[1] == ":")  # a Windows drive: C:...
        or ".." in pure.parts
        or "\x00" in name
    )


def _read_members(path: Path, file: BinaryIO) -> dict[str, bytes]:
    try:
        zf = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise _refuse(path, "it is not a CNN Studio model file (not a zip archive)") from None
    with zf:
        infos = zf.infolist()
        for info in infos:
            if _unsafe_name(info.filename):
                raise _refuse(path, f"it contains a file with an unsafe name ({info.filename!r})")
        for info in infos:
            if info.filename not in MEMBERS + OPTIONAL_MEMBERS:
                raise _refuse(path, f"it contains an unexpected file ({info.filename!r})")
        names = [info.filename for info in infos]
        for name in MEMBERS + OPTIONAL_MEMBERS:
            if name not in names and name in MEMBERS:
                raise _refuse(path, f"{name} is missing from it")
            if names.count(name) > 1:
                raise _refuse(path, f"it contains {name} more than once")
        out = {}
        for info in infos:
            limit = MAX_MEMBER_BYTES[info.filename]
            too_big = _refuse(path, f"its {info.filename} is larger than the {_size(limit)} it may be")
            if info.flag_bits & 0x1:
                raise _refuse(path, f"its {info.filename} is encrypted")
            if info.file_size > limit:
                raise too_big
            try:
                with zf.open(info) as member:
                    # Read at most limit + 1 bytes whatever the header says, so a lying header
                    # cannot make a small file expand into gigabytes.
                    data = member.read(limit + 1)
            except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError) as exc:
                raise _refuse(path, f"its {info.filename} is damaged ({exc})") from None
            if len(data) > limit:
                raise too_big
            out[info.filename] = data
    return out


def _size(n: int) -> str:
    return f"{n / 2**30:.0f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def _parse_json(path: Path, name: str, data: bytes) -> dict[str, Any]:
    def no_constants(value: str) -> Any:
        raise ValueError(f"{value} is not allowed")

    try:
        parsed = json.loads(data.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _refuse(path, f"its {name} is damaged ({exc})") from None
    if not isinstance(parsed, dict):
        raise _refuse(path, f"its {name} is damaged (not a JSON object)")
    return parsed


def _check_model_json(path: Path, data: dict[str, Any]) -> tuple[dict[str, Any], Preprocessing, list[str]]:
    from cnnstudio.core.spec import Preprocessing

    if data.get("format") != BUNDLE_FORMAT:
        raise _refuse(path, f"its {MODEL_JSON} is not a CNN Studio model description")
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _refuse(path, f"its {MODEL_JSON} has no valid version")
    if version > SCHEMA_VERSION:
        raise UserError(
            f"{path.name} was exported by a newer CNN Studio (bundle version {version}); "
            "update CNN Studio to open it."
        )
    spec = data.get("spec")
    if not isinstance(spec, dict):
        raise _refuse(path, f"its {MODEL_JSON} has no model design")
    names = data.get("class_names")
    if (
        not isinstance(names, list)
        or len(names) < 1
        or not all(isinstance(n, str) and n for n in names)
        or len(set(names)) != len(names)
    ):
        raise _refuse(path, f"its {MODEL_JSON} has no valid list of class names")
    prep = data.get("preprocessing")
    if not isinstance(prep, dict):
        raise _refuse(path, f"its {MODEL_JSON} has no preprocessing settings")
    try:
        preprocessing = Preprocessing.from_dict(prep)
    except UserError as exc:
        raise _refuse(path, f"its preprocessing settings are damaged ({exc.__cause__ or exc})") from None
    if (
        preprocessing.channels not in ("RGB", "L")
        or preprocessing.fit not in ("stretch", "crop", "pad")
        or not (1 <= preprocessing.height <= 8192 and 1 <= preprocessing.width <= 8192)
        or len(preprocessing.mean) != preprocessing.num_channels
        or len(preprocessing.std) != preprocessing.num_channels
        or any(s == 0 for s in preprocessing.std)
    ):
        raise _refuse(path, "its preprocessing settings are damaged")
    return portable_spec(spec), preprocessing, list(names)


def _parse_weights(path: Path, data: bytes) -> dict[str, torch.Tensor]:
    import torch
    from safetensors.torch import load as safetensors_load

    try:
        weights = safetensors_load(data)  # a JSON header and raw numbers; never pickle
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise _refuse(path, f"its {WEIGHTS} is not a valid weights file ({type(exc).__name__})") from None
    for name, tensor in weights.items():
        if not isinstance(tensor, torch.Tensor):
            raise _refuse(path, f"its {WEIGHTS} holds something other than numbers ({name})")
    return weights


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
        raise _refuse(path, f"its weights do not fit its model design ({detail})")
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
