"""Grad-CAM mechanics on small untrained models: shapes, range, the model left untouched, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnstudio.core.errors import UserError
from cnnstudio.core.evaluate import GradCamError, grad_cam, heat_colors, overlay_heatmap
from cnnstudio.core.evaluate.saliency import heat_on_picture


def _small_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace=True),  # in place right after the layer: the hook must hand on a copy
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Flatten(),
        nn.Linear(6 * 6 * 5, 3),
    )


def _image(height: int = 12, width: int = 10) -> torch.Tensor:
    return torch.rand(3, height, width, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("method", ["grad-cam", "hirescam"])
def test_shape_range_and_dtype(method: str) -> None:
    model = _small_cnn()
    heat = grad_cam(model, _image(), 1, method=method)
    assert heat.shape == (12, 10) and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() <= 1.0 and np.isfinite(heat).all()
    assert grad_cam(model, _image().numpy(), 2, out_size=(30, 25), method=method).shape == (30, 25)


def test_model_left_unchanged() -> None:
    model = _small_cnn()
    model.train()
    model[1].eval()  # a deliberate mix, as with a frozen BatchNorm
    before = {name: p.detach().clone() for name, p in model.state_dict().items()}
    grad_cam(model, _image(), 0)
    assert model.training and not model[1].training and model[0].training
    for module in model.modules():
        assert not module._forward_hooks and not module._backward_hooks
    assert all(p.grad is None for p in model.parameters())
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)  # BatchNorm stats too


def test_existing_grads_are_not_touched() -> None:
    model = _small_cnn()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    grad_cam(model, _image(), 0)
    assert all(torch.equal(p.grad, torch.ones_like(p)) for p in model.parameters())


def test_hooks_removed_and_mode_restored_on_error() -> None:
    model = _small_cnn().train()
    with pytest.raises(ValueError, match="class_index"):
        grad_cam(model, _image(), 7)
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())


def test_explicit_target_layer_and_frozen_weights_and_no_grad_context() -> None:
    model = _small_cnn()
    for p in model.parameters():
        p.requires_grad_(False)  # a fully frozen model still gets a map
    with torch.inference_mode():
        heat = grad_cam(model, _image(), 0, target_layer=model[0])
    assert heat.shape == (12, 10) and np.isfinite(heat).all()
    assert not model[0]._forward_hooks


def test_all_zero_map_stays_zero_without_nan() -> None:
    model = _small_cnn()
    with torch.no_grad():
        model[4].weight.zero_()
        model[4].bias.zero_()
    heat = grad_cam(model, _image(), 0)
    assert np.array_equal(heat, np.zeros((12, 10), dtype=np.float32))


def test_model_without_convolution_gets_a_plain_error() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 12 * 10, 2))
    with pytest.raises(GradCamError, match="Grad-CAM needs a convolutional layer; this model has none"):
        grad_cam(model, _image(), 0)
    assert issubclass(GradCamError, ValueError) and issubclass(GradCamError, UserError)
    with pytest.raises(GradCamError, match="convolutional layer"):
        grad_cam(_small_cnn(), _image(), 0, target_layer=_small_cnn()[8])  # a layer the model never runs


def test_torchvision_backbones() -> None:
    from torchvision.models import mobilenet_v3_small, resnet18

    torch.manual_seed(0)
    image = torch.rand(3, 64, 64)
    for model in (resnet18(num_classes=3), mobilenet_v3_small(num_classes=3)):
        # mobilenet's squeeze-and-excitation convs give 1x1 maps; a bigger map is chosen.
        heat = grad_cam(model, image, 2)
        assert heat.shape == (64, 64) and 0 <= heat.min() and heat.max() <= 1 and np.isfinite(heat).all()
        assert all(p.grad is None for p in model.parameters())
        assert all(not m._forward_hooks for m in model.modules())


def test_overlay_keeps_the_picture_size_in_every_layout() -> None:
    rng = np.random.default_rng(0)
    chw = rng.integers(0, 256, (3, 20, 16), dtype=np.uint8)
    heat = rng.random((5, 4)).astype(np.float32)  # smaller: resized to the picture
    out = overlay_heatmap(chw, heat)
    assert out.shape == (20, 16, 3) and out.dtype == np.uint8
    hwc = chw.transpose(1, 2, 0)
    assert np.array_equal(overlay_heatmap(hwc, heat), out)
    gray = rng.integers(0, 256, (1, 20, 16), dtype=np.uint8)
    assert overlay_heatmap(gray, heat).shape == (20, 16, 3)
    assert overlay_heatmap(gray[0], heat).shape == (20, 16, 3)


@pytest.mark.parametrize("shade", [0, 255])
def test_the_strongest_spot_is_red_and_the_weakest_blue_on_dark_and_light_pictures(shade):
    """A digit is white on black: the overlay's peak must read as the scale's red, not brown or pink."""
    picture = np.full((20, 20, 3), shade, np.uint8)
    heat = np.zeros((20, 20), np.float32)
    heat[10, 10] = 0.3  # a weak map (after resizing): scaled to its peak
    out = overlay_heatmap(picture, heat).astype(int)
    r, g, b = out[10, 10]
    assert r > g + 60 and r > b + 60  # red
    r, g, b = out[0, 0]
    assert b > r + 30  # blue


def test_heat_map_lands_where_the_model_looked_for_each_fit():
    heat = np.ones((32, 32), np.float32)
    assert heat_on_picture(heat, "stretch", 50, 30).shape == (30, 50)
    cropped = heat_on_picture(heat, "crop", 50, 30)  # the model saw the centre 30 x 30
    assert cropped.shape == (30, 50)
    assert cropped[:, :8].max() == 0 and cropped[:, -8:].max() == 0 and cropped[:, 25].min() > 0.9
    padded = np.zeros((32, 32), np.float32)
    padded[:6] = 1.0  # evidence only in the padding above the picture: nothing on the picture
    assert heat_on_picture(padded, "pad", 50, 30).max() < 0.05


def test_colormap_runs_cold_to_hot() -> None:
    colors = heat_colors(np.array([[0.0, 1.0, np.nan]]))
    cold, hot, missing = colors[0].astype(int)
    assert cold[2] > cold[0] and hot[0] > hot[2]  # blue for none, red for strongest
    assert np.array_equal(missing, cold)
