"""The torch modules a ModelSpec is built from. Imported only by the builder (torch is heavy).

Keras-like choices: Conv2D and Dense have biases, kernels start Glorot-uniform and biases at zero
(Keras' defaults), "same" padding puts an odd extra row or column at the bottom or right (as
TensorFlow does), "same" average pooling averages only the real pixels, and Flatten works in
channel-first order (channel, row, column).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from cnnstudio.core.spec.backbone_loader import make_backbone
from cnnstudio.core.spec.backbones import Backbone
from cnnstudio.core.spec.layer_base import Layer, Shape
from cnnstudio.core.spec.layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    MaxPooling2D,
)
from cnnstudio.core.spec.shapes import pair, same_padding

if TYPE_CHECKING:
    from cnnstudio.core.spec.model_spec import ModelSpec

LEAKY_RELU_SLOPE = 0.2  # Keras 3's activation="leaky_relu"
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def make_activation(name: str | None) -> nn.Module:
    if name is None:
        return nn.Identity()
    return {
        "relu": nn.ReLU,
        "leaky_relu": lambda: nn.LeakyReLU(LEAKY_RELU_SLOPE),
        "gelu": nn.GELU,
        "sigmoid": nn.Sigmoid,
        "tanh": nn.Tanh,
        "softmax": lambda: nn.Softmax(dim=1),  # channels (or features), Keras' last axis
    }[name]()


class SamePad(nn.Module):
    """Keras' "same" padding for any window and stride (torch's padding="same" needs stride 1)."""

    def __init__(self, window: tuple[int, int], stride: tuple[int, int], value: float = 0.0) -> None:
        super().__init__()
        self.window, self.stride, self.value = window, stride, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = same_padding(x.shape[-2], self.window[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.window[1], self.stride[1])
        if not (top or bottom or left or right):
            return x
        return F.pad(x, (left, right, top, bottom), value=self.value)


def _keras_init(module: nn.Conv2d | nn.Linear) -> None:
    nn.init.xavier_uniform_(module.weight)
    nn.init.zeros_(module.bias)


class ConvBlock(nn.Module):
    """Conv2D: padding, convolution, activation. `l1`, `l2` and `kernel` feed regularization_loss."""

    def __init__(self, in_channels: int, layer: Conv2D) -> None:
        super().__init__()
        kernel, stride = pair(layer.kernel_size), pair(layer.strides)
        # The common case (stride 1, odd kernel) pads evenly, which nn.Conv2d does itself.
        even = layer.padding == "same" and stride == (1, 1) and kernel[0] % 2 == 1 and kernel[1] % 2 == 1
        self.pad = SamePad(kernel, stride) if layer.padding == "same" and not even else nn.Identity()
        padding = (kernel[0] // 2, kernel[1] // 2) if even else (0, 0)
        self.conv = nn.Conv2d(in_channels, layer.filters, kernel, stride, padding=padding)
        _keras_init(self.conv)
        self.act = make_activation(layer.activation)
        self.l1, self.l2 = float(layer.l1), float(layer.l2)

    @property
    def kernel(self) -> nn.Parameter:
        return self.conv.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(self.pad(x)))


class DenseBlock(nn.Module):
    def __init__(self, in_features: int, units: int, layer: Dense, activation: str | None) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, units)
        _keras_init(self.linear)
        self.act = make_activation(activation)
        self.l1, self.l2 = float(layer.l1), float(layer.l2)

    @property
    def kernel(self) -> nn.Parameter:
        return self.linear.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.linear(x))


class Pool2d(nn.Module):
    def __init__(self, kind: str, pool: tuple[int, int], stride: tuple[int, int], padding: str) -> None:
        super().__init__()
        self.kind, self.pool, self.stride, self.padding = kind, pool, stride, padding
        # Max pooling pads with -inf so the padding never wins; average pooling divides by the real pixels.
        self.pad = (
            SamePad(pool, stride, float("-inf") if kind == "max" else 0.0) if padding == "same" else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "max":
            return F.max_pool2d(self.pad(x) if self.pad else x, self.pool, self.stride)
        if self.pad is None:
            return F.avg_pool2d(x, self.pool, self.stride)
        sums = F.avg_pool2d(self.pad(x), self.pool, self.stride)
        counts = F.avg_pool2d(self.pad(torch.ones_like(x[:1, :1])), self.pool, self.stride)
        return sums / counts


class GlobalAveragePool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class SpecModel(nn.Module):
    """The model of a ModelSpec: `layers[i]` is spec.layers[i + 1] (the Input has no module).

    Input: float (N, C, H, W), already normalised by the spec's Preprocessing. Output: logits
    (N, classes); a final softmax in the spec is left out because the loss applies it.

    train() keeps frozen batch norms (all their parameters requires_grad False: a frozen Backbone
    block, or a BatchNormalization with trainable=False) in eval mode, so training does not move
    their running statistics, as Keras does for frozen layers.
    """

    def __init__(
        self,
        layers: list[nn.Module],
        spec: ModelSpec,
        num_classes: int,
        output_shapes: list[Shape],
        notes: list[str],
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.spec = spec
        self.num_classes = num_classes
        self.output_shapes = output_shapes  # output_shapes[i]: the shape out of layers[i], per image
        self.notes = notes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def train(self, mode: bool = True) -> SpecModel:
        super().train(mode)
        if mode:
            for module in self.modules():
                params = list(module.parameters(recurse=False))
                if isinstance(module, BATCH_NORMS) and params and not any(p.requires_grad for p in params):
                    module.eval()
        return self

    def feature_layer(self) -> nn.Module:
        """The module whose output is the last picture-shaped feature map (Grad-CAM's usual target)."""
        for module, shape in zip(reversed(self.layers), reversed(self.output_shapes), strict=True):
            if len(shape) == 3:
                return module
        first = self.layers[0]
        if isinstance(first, BackboneModule):
            return first.last_block()
        raise ValueError("This model has no picture-shaped layer.")


class BackboneModule(nn.Module):
    """A torchvision model without its classifier: pictures in, pooled features (N, F) out."""

    def __init__(self, layer: Backbone) -> None:
        super().__init__()
        self.arch = layer.arch
        self.net = make_backbone(layer)

    def blocks(self) -> list[list[nn.Module]]:
        return [[self.net.get_submodule(path) for path in block] for block in Backbone(self.arch).info.blocks]

    def last_block(self) -> nn.Module:
        return self.blocks()[-1][-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def module_for(layer: Layer, input_shape: Shape, num_classes: int, *, in_head: bool) -> nn.Module:
    """The torch module of one layer spec. `in_head`: the class-score Dense and any softmax after
    it, whose softmax is left out (the model returns logits)."""
    if isinstance(layer, Conv2D):
        return ConvBlock(input_shape[0], layer)
    if isinstance(layer, MaxPooling2D | AveragePooling2D):
        pool = pair(layer.pool_size)
        stride = pair(layer.strides) if layer.strides is not None else pool
        return Pool2d("max" if isinstance(layer, MaxPooling2D) else "avg", pool, stride, layer.padding)
    if isinstance(layer, GlobalAveragePooling2D):
        return GlobalAveragePool()
    if isinstance(layer, Flatten):
        return nn.Flatten(1)
    if isinstance(layer, Dense):
        activation = None if in_head and layer.activation == "softmax" else layer.activation
        return DenseBlock(input_shape[0], layer.resolved_units(num_classes), layer, activation)
    if isinstance(layer, Dropout):
        return nn.Dropout(float(layer.rate))
    if isinstance(layer, BatchNormalization):
        norm = nn.BatchNorm2d if len(input_shape) == 3 else nn.BatchNorm1d
        # Keras' momentum is the share kept; torch's is the share of the new batch.
        return norm(input_shape[0], eps=float(layer.epsilon), momentum=1 - float(layer.momentum))
    if isinstance(layer, Activation):
        return nn.Identity() if in_head else make_activation(layer.activation)
    if isinstance(layer, Backbone):
        return BackboneModule(layer)
    raise TypeError(f"No torch module for layer type {layer.type}")
