"""Ready-made model designs to start from."""

from __future__ import annotations

from collections.abc import Callable

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec.backbones import Backbone
from cnnstudio.core.spec.layer_base import Layer
from cnnstudio.core.spec.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    MaxPooling2D,
)
from cnnstudio.core.spec.model_spec import ModelSpec

# name -> (title, description), in the order the app lists them
TEMPLATES: dict[str, tuple[str, str]] = {
    "seed": (
        "Seed CNN",
        "The Keras guide's first model: two convolutions with max pooling, then two Dense layers, "
        "on 64x64 colour pictures.",
    ),
    "tiny": (
        "Tiny",
        "Two small convolutions on 32x32 pictures; trains in seconds, for trying things out.",
    ),
    "small-vgg": (
        "Small VGG",
        "Three blocks of two convolutions (32, 64, 128 filters) with batch normalisation and dropout; "
        "more accurate than the seed, slower to train.",
    ),
    "resnet18": (
        "ResNet-18 (pre-trained)",
        "A frozen ResNet-18 trained on ImageNet, with a new last layer for your classes; "
        "accurate with few pictures.",
    ),
    "mobilenet-v3-small": (
        "MobileNetV3 Small (pre-trained)",
        "A small, fast network trained on ImageNet, frozen, with a new last layer; good on slow computers.",
    ),
    "efficientnet-b0": (
        "EfficientNet-B0 (pre-trained)",
        "An accurate network trained on ImageNet, frozen, with a new last layer; slower than ResNet-18.",
    ),
}


def _seed() -> list[Layer]:
    return [
        Input(64, 64, 3),
        Conv2D(32, 3, activation="relu"),
        MaxPooling2D(2),
        Conv2D(64, 3, activation="relu"),
        MaxPooling2D(2),
        Flatten(),
        Dense(128, activation="relu"),
        Dense("auto", activation="softmax"),
    ]


def _tiny() -> list[Layer]:
    return [
        Input(32, 32, 3),
        Conv2D(8, 3, padding="same", activation="relu"),
        BatchNormalization(),
        MaxPooling2D(2),
        Conv2D(16, 3, padding="same", activation="relu"),
        BatchNormalization(),
        GlobalAveragePooling2D(),
        Dense("auto", activation="softmax"),
    ]


def _small_vgg() -> list[Layer]:
    layers: list[Layer] = [Input(64, 64, 3)]
    for filters in (32, 64, 128):
        layers += [
            Conv2D(filters, 3, padding="same", activation="relu"),
            BatchNormalization(),
            Conv2D(filters, 3, padding="same", activation="relu"),
            BatchNormalization(),
            MaxPooling2D(2),
        ]
    layers += [
        Dropout(0.25),
        GlobalAveragePooling2D(),
        Dense(128, activation="relu"),
        Dropout(0.5),
        Dense("auto", activation="softmax"),
    ]
    return layers


def _transfer(arch: str) -> Callable[[], list[Layer]]:
    def layers() -> list[Layer]:
        return [
            Input(224, 224, 3, fit="crop"),
            Backbone(arch, weights="imagenet", train_blocks=0),
            Dropout(0.2),
            Dense("auto", activation="softmax"),
        ]

    return layers


_BUILDERS: dict[str, Callable[[], list[Layer]]] = {
    "seed": _seed,
    "tiny": _tiny,
    "small-vgg": _small_vgg,
    "resnet18": _transfer("resnet18"),
    "mobilenet-v3-small": _transfer("mobilenet_v3_small"),
    "efficientnet-b0": _transfer("efficientnet_b0"),
}


def template(name: str) -> ModelSpec:
    """A new ModelSpec from a template name (a key of TEMPLATES)."""
    if name not in _BUILDERS:
        raise UserError(f"There is no template called {name!r}; the templates are: {', '.join(TEMPLATES)}.")
    return ModelSpec(_BUILDERS[name](), name=name)
