"""Import a weights file the user already has for a backbone template.

Read with torch.load(weights_only=True) or safetensors (a file carrying code is refused and nothing
from it runs), checked key by key and shape by shape against torchvision's architecture, then kept
atomically in the app's own weights folder with its provenance (store.py): never under torchvision's
official file name nor in torch's hub folder, so nothing passes it off as ImageNet's weights.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import torch
import torchvision

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec.backbone_loader import read_state_dict
from cnnstudio.core.weights import store
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
    """Check `file` and keep it as the template `name`'s weights (found from the file when None).
    Returns the entry, where the file now is (the app's folder), and whether it is byte for byte
    torchvision's official file. Its record (`store.imported(arch)`) says where it came from."""
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
    source_sha256 = hashlib.sha256(data).hexdigest()
    official = source_sha256.startswith(item.sha256_prefix)
    if not official:  # a converted or wrapped file: store plain tensors torchvision can load too
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
    store.save_import(item.arch, data, path, source_sha256, official)
    return item, store.imported_path(item.arch), official
