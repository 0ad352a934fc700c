"""Builds a torchvision backbone and loads its weights from a local file. Never downloads.

Weights files are read with torch.load(weights_only=True) or safetensors, so opening one never
runs code from it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec.backbones import Backbone, BackboneInfo

# Keys of torchvision's classifier heads, which the backbone drops.
HEAD_PREFIXES = ("fc.", "classifier.")


def make_backbone(layer: Backbone) -> nn.Module:
    """The torchvision model of `layer.arch`, its classifier replaced by Identity (so it returns
    pooled features), with the layer's weights and frozen blocks."""
    info = layer.info
    net = getattr(torchvision.models, info.arch)(weights=None)  # weights=None: nothing is downloaded
    if hasattr(net, "fc"):
        net.fc = nn.Identity()
    else:
        net.classifier = nn.Identity()
    path = layer.weights_path
    if path is not None:
        load_backbone_weights(net, info, path)
    net.requires_grad_(False)
    if layer.trainable and layer.train_blocks > 0:
        for block in info.blocks[len(info.blocks) - layer.train_blocks :]:
            for module_path in block:
                net.get_submodule(module_path).requires_grad_(True)
    return net


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors by name from a .safetensors file or a torch .pth/.pt file (plain tensors only)."""
    if not path.is_file():
        raise UserError(f"There is no weights file at {path}; pick it again.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged or foreign file: pickle, zip and safetensors errors all differ
        raise UserError(
            f"The weights file {path.name} cannot be read ({type(exc).__name__}); "
            "pick a .pth or .safetensors file of torchvision weights."
        ) from exc
    # Training scripts often wrap the weights: {"state_dict": {...}} or {"model": {...}}.
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"The weights file {path.name} does not hold a model's weights.")
    # Weights saved from a DataParallel model have every name prefixed with "module.".
    return {key.removeprefix("module."): value for key, value in state.items()}


def load_backbone_weights(net: nn.Module, info: BackboneInfo, path: Path) -> None:
    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith(HEAD_PREFIXES)}
    own = net.state_dict()
    # Old files lack batch norms' batch counters, which nothing uses once trained.
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or wrong:
        example = (missing or wrong)[0]
        raise UserError(
            f"The weights file {path.name} does not fit {info.title}: {len(missing)} weights are missing "
            f"and {len(wrong)} have another size (for example {example}). "
            f"Pick a file saved from torchvision's {info.arch}."
        )
    net.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
