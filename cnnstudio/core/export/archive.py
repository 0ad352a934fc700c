"""The .cnnmodel archive: a zip of named members, read safely and written reproducibly.

Both kinds of .cnnmodel file use it: a single model's bundle (bundle.py, bundle_write.py) and an
ensemble's (core.ensemble.bundle). What is in model.json is each kind's business; this module knows
the members, their limits and how to read and write them:

- `read_archive(path)`: the members as bytes, after every check below; `read_members(path, file)`
  the same from an open file. Never runs code and never writes anything: a file that is not a zip,
  a member with an absolute or climbing path, a member with another name, a member larger than its
  limit (checked while decompressing, so a "zip bomb" cannot fill the memory), an encrypted or
  missing member are refused with one UserError (`refuse`).
- `parse_json(path, name, data)` and `parse_weights(path, data)`: a member as a JSON object or as
  safetensors weights (no pickle anywhere), a damaged one refused.
- `write_archive(path, members)`: the zip with fixed timestamps (the same model gives the same
  bytes), written atomically; `json_bytes` and `state_float32` make its members.
"""

from __future__ import annotations

import io
import json
import math
import os
import uuid
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO

from cnnstudio.core.errors import UserError

if TYPE_CHECKING:
    import torch
    from torch import nn

MODEL_JSON = "model.json"
WEIGHTS = "weights.safetensors"
CARD_JSON = "card.json"
CALIBRATION_JSON = "calibration.json"
TRUST_ARRAYS = "trust.safetensors"
MEMBERS = (MODEL_JSON, WEIGHTS, CARD_JSON)
OPTIONAL_MEMBERS = (CALIBRATION_JSON, TRUST_ARRAYS)

# Limits on what a .cnnmodel may hold, uncompressed. The largest backbone the app offers
# (EfficientNet-B0) is about 20 MB of weights; the card of a 1,000-class model with its confusion
# matrix is a few MB. Module constants so that tests can lower them.
MAX_MEMBER_BYTES = {
    MODEL_JSON: 4 * 2**20,
    CARD_JSON: 32 * 2**20,
    WEIGHTS: 2 * 2**30,
    CALIBRATION_JSON: 64 * 2**20,  # version-1 calibrations kept matrices in it; version 2 is a few kB
    TRUST_ARRAYS: 16 * 2**20,  # the score's arrays: under 1 MB (a kNN bank of older runs: 2 MB)
}
MAX_FILE_BYTES = 3 * 2**30

# Fixed timestamp inside the zip: the same model exported twice gives the same bytes.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


def refuse(path: Path, reason: str) -> UserError:
    """The one error for a file that is not a valid .cnnmodel: its name, the reason, what can be opened."""
    return UserError(
        f"{path.name} cannot be opened: {reason}. Only model files exported by CNN Studio (.cnnmodel) can be opened."
    )


def _unsafe_name(name: str) -> bool:
    pure = PurePosixPath(name.replace("\\", "/"))
    return (
        name.startswith(("/", "\\"))
        or (len(name) > 1 and name[1] == ":")  # a Windows drive: C:...
        or ".." in pure.parts
        or "\x00" in name
    )


def read_members(path: Path, file: BinaryIO) -> dict[str, bytes]:
    """The members of the zip in `file` (the .cnnmodel at `path`) as bytes, each checked (module docstring)."""
    try:
        zf = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise refuse(path, "it is not a CNN Studio model file (not a zip archive)") from None
    with zf:
        infos = zf.infolist()
        for info in infos:
            if _unsafe_name(info.filename):
                raise refuse(path, f"it contains a file with an unsafe name ({info.filename!r})")
        for info in infos:
            if info.filename not in MEMBERS + OPTIONAL_MEMBERS:
                raise refuse(path, f"it contains an unexpected file ({info.filename!r})")
        names = [info.filename for info in infos]
        for name in MEMBERS + OPTIONAL_MEMBERS:
            if name not in names and name in MEMBERS:
                raise refuse(path, f"{name} is missing from it")
            if names.count(name) > 1:
                raise refuse(path, f"it contains {name} more than once")
        out = {}
        for info in infos:
            limit = MAX_MEMBER_BYTES[info.filename]
            too_big = refuse(path, f"its {info.filename} is larger than the {_size(limit)} it may be")
            if info.flag_bits & 0x1:
                raise refuse(path, f"its {info.filename} is encrypted")
            if info.file_size > limit:
                raise too_big
            try:
                with zf.open(info) as member:
                    # Read at most limit + 1 bytes whatever the header says, so a lying header
                    # cannot make a small file expand into gigabytes.
                    data = member.read(limit + 1)
            except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError) as exc:
                raise refuse(path, f"its {info.filename} is damaged ({exc})") from None
            if len(data) > limit:
                raise too_big
            out[info.filename] = data
    return out


def _size(n: int) -> str:
    return f"{n / 2**30:.0f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def parse_json(path: Path, name: str, data: bytes) -> dict[str, Any]:
    """Member `name` as a JSON object (NaN and infinities refused); a damaged one refused."""

    def no_constants(value: str) -> Any:
        raise ValueError(f"{value} is not allowed")

    try:
        parsed = json.loads(data.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise refuse(path, f"its {name} is damaged ({exc})") from None
    if not isinstance(parsed, dict):
        raise refuse(path, f"its {name} is damaged (not a JSON object)")
    return parsed


def check_model_json(path: Path, data: dict[str, Any], fmt: str, latest: int, what: str, not_it: str) -> int:
    """The header of a bundle's model.json, for single models and ensembles alike: its "format" is
    `fmt` (else refused with the reason `not_it`), its "schema_version" a whole number from 1 up to
    `latest` (a newer one asks for an update, naming `what`: "bundle", "ensemble"), its
    "class_names" a list of distinct names. Returns the version."""
    if data.get("format") != fmt:
        raise refuse(path, not_it)
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise refuse(path, f"its {MODEL_JSON} has no valid version")
    if version > latest:
        raise UserError(
            f"{path.name} was made by a newer CNN Studio ({what} version {version}); "
            "update CNN Studio to open it."
        )
    names = data.get("class_names")
    if (
        not isinstance(names, list)
        or len(names) < 1
        or not all(isinstance(n, str) and n for n in names)
        or len(set(names)) != len(names)
    ):
        raise refuse(path, f"its {MODEL_JSON} has no valid list of class names")
    return version


def parse_weights(path: Path, data: bytes) -> dict[str, torch.Tensor]:
    """A safetensors member as CPU tensors (never pickle); a damaged one refused."""
    import torch
    from safetensors.torch import load as safetensors_load

    try:
        weights = safetensors_load(data)  # a JSON header and raw numbers; never pickle
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise refuse(path, f"its {WEIGHTS} is not a valid weights file ({type(exc).__name__})") from None
    for name, tensor in weights.items():
        if not isinstance(tensor, torch.Tensor):
            raise refuse(path, f"its {WEIGHTS} holds something other than numbers ({name})")
    return weights


def state_float32(model: nn.Module) -> dict[str, torch.Tensor]:
    """A contiguous CPU copy of the state dict, floating tensors as float32 (what the app trains in)."""
    import torch

    out = {}
    for name, tensor in model.state_dict().items():
        t = tensor.detach().to("cpu")
        t = t.float() if t.is_floating_point() else t
        # clone: safetensors refuses tensors that share memory (tied weights).
        out[name] = t.clone(memory_format=torch.contiguous_format)
    return out


def _finite(data: Any) -> Any:
    """Plain data with NaN and infinities as None: JSON has no such numbers."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {str(k): _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def json_bytes(data: Any) -> bytes:
    """Plain data as indented UTF-8 JSON, NaN and infinities as null."""
    text = json.dumps(_finite(data), indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def add_member(zf: zipfile.ZipFile, name: str, data: bytes, compression: int) -> None:
    """Add a member with the fixed timestamp and ordinary permissions."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temp file renamed into place (the user's usual permissions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its files are private (0600); a bundle gets the user's usual permissions.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_archive(path: Path) -> dict[str, bytes]:
    """The members of the .cnnmodel file at `path` (see the module docstring); UserError when it is
    missing, a folder, too large, unreadable or not a valid archive."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"The model file {path} does not exist.")
    if not path.is_file():
        raise refuse(path, "it is a folder, not a model file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise refuse(path, f"it is larger ({size / 2**30:.1f} GB) than a model file can be")
        with open(path, "rb") as f:
            return read_members(path, f)
    except OSError as exc:
        raise UserError(f"The model file {path} cannot be read ({exc.strerror or exc}).") from exc


def write_archive(path: Path | str, members: list[tuple[str, bytes, bool]]) -> Path:
    """Write (name, data, compress) members as a zip at `path`, atomically, and return the path.

    Weights hardly compress: store them (compress False); JSON members deflate well.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data, compress in members:
            add_member(zf, name, data, zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)
    path = Path(path)
    write_atomic(path, buffer.getvalue())
    return path
