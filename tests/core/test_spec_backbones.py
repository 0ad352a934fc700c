"""The backbone table checked against torchvision, and weights loaded from local files only."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file
from torch import nn

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec import (
    BACKBONES,
    Backbone,
    Dense,
    Input,
    ModelSpec,
    backbone_weights_available,
    build_model,
    infer_shapes,
    template,
)
from cnnstudio.core.spec.backbones import torch_hub_dir


def headless(arch: str) -> nn.Module:
    net = getattr(torchvision.models, arch)(weights=None)
    if arch == "resnet18":
        net.fc = nn.Identity()
    else:
        net.classifier = nn.Identity()
    return net.eval()


def count(net: nn.Module, height: int, width: int) -> tuple[tuple[int, ...], int, int]:
    """Output shape, FLOPs (multiply-adds x2 of convolutions and linears) and leaf outputs per image."""
    flops = activations = 0

    def hook(module, _inputs, out):
        nonlocal flops, activations
        if isinstance(module, nn.Conv2d):
            per_output = (
                2 * (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]
            )
            flops += per_output * out.shape[1] * out.shape[2] * out.shape[3]
        elif isinstance(module, nn.Linear):
            flops += 2 * module.in_features * module.out_features
        activations += out.numel()

    leaves = [m for m in net.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(hook) for m in leaves]
    with torch.no_grad():
        out = net(torch.zeros(1, 3, height, width))
    for h in hooks:
        h.remove()
    return tuple(out.shape[1:]), flops, activations


@pytest.mark.parametrize("arch", list(BACKBONES))
def test_the_table_matches_torchvision(arch):
    info = BACKBONES[arch]
    net = headless(arch)
    blocks = [
        sum(p.numel() for path in block for p in net.get_submodule(path).parameters())
        for block in info.blocks
    ]
    assert tuple(blocks) == info.block_params
    assert sum(p.numel() for p in net.parameters()) == info.params  # the blocks cover every parameter
    assert count(net, 224, 224) == ((info.features,), info.flops_224, info.activations_224)
    # At other sizes the report scales by area: close enough for an estimate.
    shape, flops, activations = count(net, 160, 96)
    report = Backbone(arch, weights="random").infer((3, 160, 96), 2)
    assert report.output_shape == shape
    assert report.flops == pytest.approx(flops, rel=0.03)
    assert report.activations - info.features == pytest.approx(activations, rel=0.03)
    weights = torchvision.models.get_model_weights(arch).DEFAULT
    assert Path(weights.url).name == info.weights_file


def test_torch_hub_dir_agrees_with_torch(monkeypatch, tmp_path):
    code = "from cnnstudio.core.spec.backbones import torch_hub_dir; import sys; print(torch_hub_dir()); assert 'torch' not in sys.modules"
    for env in ({"TORCH_HOME": str(tmp_path / "th")}, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}, {}):
        monkeypatch.delenv("TORCH_HOME", raising=False)
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        without_torch = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert without_torch.stdout.strip() == torch.hub.get_dir() == str(torch_hub_dir())


def save_random_resnet(path: Path) -> dict[str, torch.Tensor]:
    """A whole torchvision resnet18 (with its fc head), as a user's file would hold it."""
    state = torchvision.models.resnet18(weights=None).state_dict()
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return state


def assert_loaded(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    own = model.layers[0].net.state_dict()
    assert set(own) == {k for k in state if not k.startswith("fc.")}
    for key, value in own.items():
        assert torch.equal(value, state[key]), key


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_from_a_picked_file(tmp_path, suffix):
    path = tmp_path / f"my-resnet{suffix}"
    state = save_random_resnet(path)
    spec = ModelSpec([Input(32, 32), Backbone("resnet18", weights=str(path)), Dense("auto")])
    report = infer_shapes(spec, 2)
    assert report.ok and report.notes == []
    assert_loaded(build_model(spec, 2), state)


def test_imagenet_weights_come_from_torch_cache_when_present(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("CNNSTUDIO_DATA_DIR", str(tmp_path / "appdata"))
    assert backbone_weights_available("resnet18") is None
    cached = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    state = save_random_resnet(cached)
    assert backbone_weights_available("resnet18") is None  # not the official file: its hash differs
    # the catalogue naming this file by its own SHA-256, as torchvision names its files
    named = cached.with_name(f"resnet18-{hashlib.sha256(cached.read_bytes()).hexdigest()[:8]}.pth")
    cached.rename(named)
    cached = named
    monkeypatch.setitem(
        BACKBONES, "resnet18", dataclasses.replace(BACKBONES["resnet18"], weights_file=named.name)
    )
    assert backbone_weights_available("resnet18") == cached
    assert backbone_weights_available("alexnet") is None
    spec = template("resnet18").replace_layer(0, Input(32, 32, fit="crop"))
    report = infer_shapes(spec, 2)
    assert report.ok and report.notes == []
    assert_loaded(build_model(spec, 2), state)


def test_missing_imagenet_weights_start_random_with_a_note(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    spec = template("mobilenet-v3-small").replace_layer(0, Input(32, 32, fit="crop"))
    model = build_model(spec, 2)
    assert model.notes == [f"Backbone #1: {infer_shapes(spec, 2).layers[1].note}"]


def test_unsuitable_weights_files_are_user_errors(tmp_path):
    wrong = tmp_path / "mobilenet.pth"
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), wrong)
    spec = ModelSpec([Input(32, 32), Backbone("resnet18", weights=str(wrong)), Dense("auto")])
    with pytest.raises(UserError, match="does not fit ResNet-18: .* weights are missing"):
        build_model(spec, 2)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a weights file")
    with pytest.raises(UserError, match="garbage.pth cannot be read"):
        build_model(spec.replace_layer(1, Backbone("resnet18", weights=str(garbage))), 2)
