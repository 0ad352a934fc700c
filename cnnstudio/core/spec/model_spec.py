"""ModelSpec: a model design as plain data (an Input, then layers), saved as versioned JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec.backbones import Backbone
from cnnstudio.core.spec.layer_base import Layer
from cnnstudio.core.spec.layers import Input
from cnnstudio.core.spec.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

SCHEMA_VERSION = 1


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a saved spec up to SCHEMA_VERSION, one version step at a time.

    Version 1 is the first; a future version 2 adds `if version == 1: ...; version = 2` here, and
    the test that loads a version-1 dict keeps proving old files still open.
    """
    data = dict(data)
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version < 1:
        raise UserError(f"This model design has an unreadable version ({version!r}).")
    if version > SCHEMA_VERSION:
        raise UserError(
            f"This model design was saved by a newer CNN Studio (format {version}; this one reads up to "
            f"{SCHEMA_VERSION}). Update CNN Studio to open it."
        )
    data["schema_version"] = SCHEMA_VERSION
    return data


@dataclass
class ModelSpec:
    """A sequential model: `layers[0]` is the Input. Changes make new specs (layers are frozen)."""

    layers: list[Layer] = field(default_factory=list)
    name: str = "model"

    @property
    def input(self) -> Input:
        if not self.layers or not isinstance(self.layers[0], Input):
            raise UserError("The model must start with an Input layer that gives the picture's size.")
        return self.layers[0]

    @property
    def has_backbone(self) -> bool:
        return any(isinstance(layer, Backbone) for layer in self.layers)

    def preprocessing(self) -> Preprocessing:
        spec_input = self.input
        channels = "RGB" if spec_input.channels == 3 else "L"
        if self.has_backbone:
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        else:
            mean, std = (0.0,) * spec_input.channels, (1.0,) * spec_input.channels
        return Preprocessing(
            spec_input.height, spec_input.width, channels, spec_input.fit, 1 / 255, mean, std
        )

    # -- changes, each a new spec (the designer's undo keeps the old ones) --

    def with_layers(self, layers: list[Layer]) -> ModelSpec:
        return ModelSpec(list(layers), self.name)

    def insert_layer(self, index: int, layer: Layer) -> ModelSpec:
        layers = list(self.layers)
        layers.insert(index, layer)
        return self.with_layers(layers)

    def remove_layer(self, index: int) -> ModelSpec:
        layers = list(self.layers)
        del layers[index]
        return self.with_layers(layers)

    def replace_layer(self, index: int, layer: Layer) -> ModelSpec:
        layers = list(self.layers)
        layers[index] = layer
        return self.with_layers(layers)

    def move_layer(self, index: int, new_index: int) -> ModelSpec:
        layers = list(self.layers)
        layers.insert(new_index, layers.pop(index))
        return self.with_layers(layers)

    # -- saving --

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "layers": [layer.to_config() for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
            raise UserError("This is not a CNN Studio model design (it has no list of layers).")
        data = migrate(data)
        layers = []
        for config in data["layers"]:
            try:
                layers.append(Layer.from_config(config))
            except TypeError as exc:  # a setting of the wrong kind, e.g. filters as a list
                raise UserError(
                    f"A {config.get('type', '?')} layer in this model design is damaged: {exc}"
                ) from exc
        return cls(layers, str(data.get("name", "model")))

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        from cnnstudio.core.jsonfile import parse_json_text

        return cls.from_dict(parse_json_text(text, "model design file"))

    def save(self, path: Path | str) -> None:
        """Write the design file atomically: a crash leaves the old file or the new one, never half."""
        from cnnstudio.core.atomic import write_bytes_atomic

        write_bytes_atomic(Path(path), (self.to_json() + "\n").encode("utf-8"))

    @classmethod
    def load(cls, path: Path | str) -> ModelSpec:
        from cnnstudio.core.jsonfile import read_text_file

        return cls.from_json(read_text_file(path, "model design file"))
