"""Grad-CAM: which parts of a picture made the model choose a class, and a coloured overlay of it.

Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization", ICCV 2017 (https://arxiv.org/abs/1610.02391): the feature maps A_c of a convolutional
layer, weighted by the spatial mean of d(class logit)/dA_c, summed over channels, ReLU.

HiResCAM (Draelos and Carin, https://arxiv.org/abs/2011.08891) multiplies by the gradient at each
position instead of its spatial mean. With a global-average-pooling head the two are the same; with
a Flatten + Dense head, Grad-CAM's averaging mixes the Dense weights of every position and can give
an empty or misplaced map (measured in tests/core/test_evaluate_trained.py: nothing left after the
ReLU on a position task), while HiResCAM shows exactly what each position added to the class score.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnstudio.core.errors import UserError
from cnnstudio.core.evaluate._modes import evaluation_mode

METHODS = ("grad-cam", "hirescam")


class GradCamError(UserError, ValueError):
    """Grad-CAM cannot be computed for this model or input; the message says why in plain words."""


def _conv_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def grad_cam(
    model: nn.Module,
    x: torch.Tensor | np.ndarray,
    class_index: int,
    *,
    target_layer: nn.Module | None = None,
    out_size: tuple[int, int] | None = None,
    method: str = "grad-cam",
) -> np.ndarray:
    """Heat map (H, W) float32 in [0, 1] of where the picture supports ``class_index``.

    ``x`` is one picture (C, H, W), already normalised as the model expects. ``target_layer``
    defaults to the last ``nn.Conv2d`` (in ``model.modules()`` order) whose output is bigger than
    1x1: a 1x1 map, such as a squeeze-and-excitation block's, says nothing about where. The map is
    resized bilinearly to ``out_size`` (default the input's H, W) and divided by its maximum; a map
    with no positive evidence stays all zero. ``method="hirescam"`` weights each position by its own
    gradient (better for models ending in Flatten + Dense; see the module docstring). The model is
    left as it was: sub-module modes restored, hooks removed, no ``.grad`` written on its parameters.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    x = torch.as_tensor(x)
    if x.ndim != 3:
        raise ValueError(f"Grad-CAM takes one picture of shape (C, H, W); got shape {tuple(x.shape)}")
    candidates = [target_layer] if target_layer is not None else _conv_layers(model)
    if not candidates:
        raise GradCamError("Grad-CAM needs a convolutional layer; this model has none.")
    out_size = tuple(out_size) if out_size is not None else tuple(x.shape[-2:])
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32

    activations: dict[nn.Module, torch.Tensor] = {}

    def keep_output(module: nn.Module, _inputs, output):
        if not isinstance(output, torch.Tensor):
            return None
        activations[module] = output
        # Hand a copy downstream, so an in-place op after this layer (ReLU(inplace=True)) cannot
        # overwrite the activations we differentiate with respect to.
        return output.clone()

    handles = [layer.register_forward_hook(keep_output) for layer in candidates]
    try:
        # Grad-CAM needs autograd even if the caller is inside no_grad or inference_mode.
        with evaluation_mode(model), torch.inference_mode(False), torch.enable_grad():
            # The input requires grad so the graph reaches the layer even when every weight is frozen.
            inputs = x.detach().clone().to(device=device, dtype=dtype).unsqueeze(0).requires_grad_(True)
            logits = model(inputs)
            if not 0 <= class_index < logits.shape[1]:
                raise ValueError(f"class_index {class_index} is outside 0..{logits.shape[1] - 1}")
            layer = _pick_layer(candidates, activations)
            activation = activations[layer]
            # autograd.grad, not backward(): nothing is accumulated into the parameters' .grad.
            (gradient,) = torch.autograd.grad(logits[0, class_index], activation)
            if method == "grad-cam":
                weights = gradient.mean(dim=(2, 3), keepdim=True)
            else:
                weights = gradient
            cam = F.relu((weights * activation).sum(dim=1, keepdim=True)).detach().float()
    finally:
        for handle in handles:
            handle.remove()
        activations.clear()
    cam = F.interpolate(cam, size=out_size, mode="bilinear", align_corners=False)[0, 0]
    cam = cam.clamp_min(0).cpu().numpy().astype(np.float32)
    peak = float(cam.max()) if cam.size else 0.0
    return cam / peak if peak > 0 else np.zeros_like(cam)


def _pick_layer(candidates: list[nn.Module], activations: dict[nn.Module, torch.Tensor]) -> nn.Module:
    ran = [layer for layer in candidates if layer in activations and activations[layer].ndim == 4]
    if not ran:
        raise GradCamError(
            "Grad-CAM needs the output of a convolutional layer (channels x height x width); "
            "the chosen layer gave none. Choose a convolutional layer."
        )
    for layer in reversed(ran):
        output = activations[layer]
        if output.ndim == 4 and output.shape[-2] * output.shape[-1] > 1:
            return layer
    return ran[-1]


# A small "jet"-like colormap: dark blue (no evidence) through cyan, yellow, to red (strongest).
_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_COLORS = np.array(
    [[0, 0, 128], [0, 128, 255], [64, 255, 192], [255, 220, 0], [220, 0, 0]],
    dtype=np.float64,
)


def heat_colors(heatmap: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] -> (H, W, 3) uint8 RGB colours."""
    heat = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float64)), 0.0, 1.0)
    rgb = np.stack([np.interp(heat, _STOPS, _COLORS[:, c]) for c in range(3)], axis=-1)
    return np.round(rgb).astype(np.uint8)


def _as_hwc_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    elif image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[2] not in (1, 3):
        image = image.transpose(1, 2, 0)
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"image must be (C, H, W), (H, W, 3) or (H, W); got shape {image.shape}")
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def _resize(heat: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    if heat.shape == (height, width):
        return heat.astype(np.float32)
    image = Image.fromarray(np.ascontiguousarray(heat, dtype=np.float32), mode="F")
    return np.asarray(image.resize((max(1, width), max(1, height)), Image.Resampling.BILINEAR))


def heat_on_picture(heat: np.ndarray, fit: str, width: int, height: int) -> np.ndarray:
    """Map a heat map over the model's input back onto the picture it came from (height x width).

    The input is the picture stretched, centre-cropped or padded (core.dataset.decode_image), so the
    map is resized, placed over the kept centre (crop: the rest had no say, 0), or cut out of the
    padding (pad).
    """
    in_h, in_w = heat.shape
    if fit == "crop":
        scale = max(in_w / width, in_h / height)
        box_w, box_h = in_w / scale, in_h / scale
        left, top = round((width - box_w) / 2), round((height - box_h) / 2)
        out = np.zeros((height, width), np.float32)
        inner = _resize(heat, max(1, round(box_w)), max(1, round(box_h)))
        h, w = min(inner.shape[0], height - top), min(inner.shape[1], width - left)
        out[top : top + h, left : left + w] = inner[:h, :w]
        return out
    if fit == "pad":
        scale = min(in_w / width, in_h / height)
        new_w, new_h = min(in_w, max(1, round(width * scale))), min(in_h, max(1, round(height * scale)))
        x0, y0 = (in_w - new_w) // 2, (in_h - new_h) // 2
        heat = heat[y0 : y0 + new_h, x0 : x0 + new_w]
    return _resize(heat, width, height)


HEAT_WEIGHT = 0.6  # the colours' share; the picture is shown in grey under them


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 the size of the picture: the heat colours over it in grey, scaled so that the
    strongest spot is red.

    ``image`` is uint8 (C, H, W) with C 1 or 3, (H, W, 3) or (H, W); a heat map of another size is
    stretched to it (heat_on_picture maps one back through a crop or a pad first). The picture's own
    colours would mix with the scale's (red over a dark digit looked brown, over a white one pink), so
    it is shown in grey; and the map is scaled to its own peak after resizing, so a colour scale
    beside the picture reads the same as the picture.
    """
    rgb = _as_hwc_rgb(image).astype(np.float32)
    height, width = rgb.shape[:2]
    heat = _resize(np.asarray(heatmap, dtype=np.float32), width, height)
    peak = float(heat.max()) if heat.size else 0.0
    heat = heat / peak if peak > 0 else heat
    grey = rgb.mean(axis=-1, keepdims=True)
    mixed = (1 - HEAT_WEIGHT) * grey + HEAT_WEIGHT * heat_colors(heat).astype(np.float32)
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)
