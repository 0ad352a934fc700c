"""Import a weights file the user already has as a backbone's ImageNet weights.

Read with torch.load(weights_only=True) or safetensors (a file carrying code is refused and nothing
from it runs), checked key by key and shape by shape against torchvision's architecture, then copied
atomically into torch's hub checkpoints folder under the official file name.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import torch
import torchvision

from cnnstudio.core.atomic import write_bytes_atomic
from cnnstudio.core.errors import UserError
from cnnstudio.core.spec.backbone_loader import read_state_dict
from cnnstudio.core.weights.entries import WeightsEntry, catalogue, entry


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return read_state_dict(path)
    except UserError as exc:
        if isinstance(exc.__cause__, pickle.UnpicklingError):
            raise UserError(
                f"{path.name} was refused: it carries program code, not only weights, and opening it "
                "could run that code. Nothing from it was run. Use a file saved with "
                "torch.save(model.state_dict()) or a .safetensors file."
            ) from exc
        raise


def mismatch(state: dict[str, torch.Tensor], arch: str) -> str | None:
    """The first layer where `state` differs from torchvision's `arch`, in plain words, or None."""
    own = getattr(torchvision.models, arch)(weights=None).state_dict()
    for key, value in own.items():
        if key not in state:
            if key.endswith("num_batches_tracked"):
                continue
            return f"the file has no {key}"
        if tuple(state[key].shape) != tuple(value.shape):
            return (
                f"{key} is {'x'.join(map(str, state[key].shape)) or 'a single number'} in the file "
                f"but {'x'.join(map(str, value.shape)) or 'a single number'} in {arch}"
            )
    extra = next((key for key in state if key not in own), None)
    return f"the file has a layer {extra} that {arch} does not have" if extra else None


def import_weights(file: str | Path, name: str | None = None) -> tuple[WeightsEntry, Path, bool]:
    """Check `file` and copy it in as the ImageNet weights of `name` (found from the file when None).
    Returns the entry, where the file now is, and whether it is byte for byte the official file."""
    path = Path(file).expanduser()
    state = read_weights(path)
    candidates = [entry(name)] if name else catalogue()
    problems = []
    for item in candidates:
        problem = mismatch(state, item.arch)
        if problem is None:
            break
        problems.append((item, problem))
    else:
        if name:
            item, problem = problems[0]
            raise UserError(f"{path.name} does not fit {item.title} ({item.name}): {problem}.")
        first = problems[0][1]
        raise UserError(
            f"{path.name} fits none of the pre-trained networks "
            f"({', '.join(i.name for i, _ in problems)}); for {problems[0][0].name}: {first}. "
            "Name the network with --as if you know it."
        )
    data = path.read_bytes()
    official = hashlib.sha256(data).hexdigest().startswith(item.sha256_prefix)
    if not official:  # a converted or wrapped file: store plain tensors torchvision can load too
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
    write_bytes_atomic(item.target, data)
    return item, item.target, official
