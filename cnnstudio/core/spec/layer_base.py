"""The base of every layer spec: plain data with Keras names, a config round trip and a registry.

A layer spec holds settings only; `infer()` gives its output shape and counts from its input
shape without torch (the designer shows shapes before torch is loaded), and the builder turns it
into a torch module. Specs are frozen: a change is `layer.replace(filters=64)`, a new value, so a
ModelSpec can be shared between the designer, a shape report and a training run.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from cnnstudio.core.errors import UserError

Shape = tuple[int, ...]  # (channels, height, width) for pictures, (features,) once flat

ACTIVATIONS = ("relu", "leaky_relu", "gelu", "sigmoid", "tanh", "softmax")
CATEGORIES = ("Core", "Convolution", "Pooling", "Regularisation", "Pre-trained")

LAYER_TYPES: dict[str, type[Layer]] = {}


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: makes a layer type loadable by its name from a config."""
    LAYER_TYPES[cls.type] = cls
    return cls


@dataclass(frozen=True)
class LayerShape:
    """What one layer does to the data: its output shape and what it costs."""

    output_shape: Shape
    params: int = 0
    trainable_params: int = 0
    flops: int = 0
    activations: int = 0  # numbers this layer keeps per image (for the memory estimate)
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class Layer:
    """Base of the layer specs. Subclasses set `type`, `category` and a one-line `description`."""

    type: ClassVar[str] = ""
    category: ClassVar[str] = ""
    description: ClassVar[str] = ""

    trainable: bool = True
    name: str | None = None

    def to_config(self) -> dict[str, Any]:
        """Plain JSON-ready settings, with "type" naming the layer (Keras' get_config)."""
        config: dict[str, Any] = {"type": self.type}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            config[field.name] = list(value) if isinstance(value, tuple) else value
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """The layer a config describes; on `Layer` itself the config's "type" picks the class."""
        if not isinstance(config, dict):
            raise UserError(f"A layer in this model design is not readable: {config!r}")
        settings = dict(config)
        type_name = settings.pop("type", cls.type)
        target = cls
        if cls is Layer:
            if type_name not in LAYER_TYPES:
                known = ", ".join(sorted(LAYER_TYPES))
                raise UserError(f"Unknown layer type {type_name!r}; the layer types are: {known}.")
            target = LAYER_TYPES[type_name]
        elif type_name != cls.type:
            raise UserError(f"This is a {type_name} layer, not a {cls.type} layer.")
        known_fields = {field.name for field in dataclasses.fields(target)}
        unknown = sorted(set(settings) - known_fields)
        if unknown:
            raise UserError(
                f"{type_name} has no setting {', '.join(map(repr, unknown))}; "
                f"its settings are: {', '.join(sorted(known_fields))}."
            )
        # JSON has no tuples: (height, width) pairs come back as lists.
        settings = {
            key: tuple(value) if isinstance(value, list) else value for key, value in settings.items()
        }
        return target(**settings)

    def replace(self, **changes: Any) -> Layer:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)

    def check(self) -> None:
        """Raise ValueError, in plain words, when a setting is out of range (shapes aside)."""

    def infer(self, input_shape: Shape | None, num_classes: int) -> LayerShape:
        """Output shape and counts from the input shape; ValueError (plain words) when it cannot work."""
        raise NotImplementedError

    def frozen(self, params: int) -> int:
        """The trainable share of `params`: all of them, or none when the layer is frozen."""
        return params if self.trainable else 0


def keras_name(type_name: str) -> str:
    """Keras' default layer names: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", type_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def check_whole(setting: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{setting} must be a whole number of {minimum} or more (it is {value!r}).")


def check_pair(setting: str, value: Any) -> None:
    """A size given as one whole number or as (height, width)."""
    values = value if isinstance(value, tuple) else (value,)
    if len(values) not in (1, 2):
        raise ValueError(f"{setting} must be one number or two (height, width) (it is {value!r}).")
    for item in values:
        check_whole(setting, item)


def check_choice(setting: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        names = ", ".join("none" if choice is None else repr(choice) for choice in choices)
        raise ValueError(f"{setting} must be one of {names} (it is {value!r}).")


def check_penalty(setting: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(
            f"{setting} must be 0 (off) or a small positive number such as 0.0001 (it is {value!r})."
        )


def describe_shape(shape: Shape) -> str:
    if len(shape) == 3:
        return f"{shape[0]} channels of {shape[1]}x{shape[2]}"
    return f"{shape[0]:,} numbers"


def need_picture(shape: Shape | None) -> Shape:
    """The input of a layer that works on pictures (channels, height, width)."""
    if shape is None or len(shape) != 3:
        flat = f" ({shape[0]:,} numbers)" if shape else ""
        raise ValueError(
            f"this layer needs a picture-shaped input, but the data is already flat here{flat}. "
            "Move it before the Flatten or GlobalAveragePooling2D."
        )
    return shape


def need_flat(shape: Shape | None) -> Shape:
    if shape is None or len(shape) != 1:
        here = f" (the data is {describe_shape(shape)} here)" if shape else ""
        raise ValueError(
            f"this layer needs a flat input{here}: add Flatten or GlobalAveragePooling2D before it."
        )
    return shape


def numel(shape: Shape) -> int:
    total = 1
    for size in shape:
        total *= size
    return total
