"""Model designs: layer specs with Keras' names, ModelSpec, shape inference and the torch builder.

Importing this package does not import torch: shapes, JSON and templates work without it (the
designer shows shapes before torch is loaded). build_model() and regularization_loss() import
torch when called; SpecModel is loaded on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnnstudio.core.spec.backbones import BACKBONES, Backbone, BackboneInfo, backbone_weights_available
from cnnstudio.core.spec.builder import build_model, regularization_loss
from cnnstudio.core.spec.infer import infer_shapes
from cnnstudio.core.spec.layer_base import ACTIVATIONS, CATEGORIES, LAYER_TYPES, Layer
from cnnstudio.core.spec.layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    MaxPooling2D,
)
from cnnstudio.core.spec.model_spec import SCHEMA_VERSION, ModelSpec, migrate
from cnnstudio.core.spec.preprocessing import Preprocessing
from cnnstudio.core.spec.report import LayerInfo, ShapeReport
from cnnstudio.core.spec.shapes import conv2d_output_shape, pool2d_output_shape
from cnnstudio.core.spec.templates import TEMPLATES, template

if TYPE_CHECKING:
    from cnnstudio.core.spec.modules import SpecModel as SpecModel  # for type checkers; loaded lazily below

__all__ = [
    "ACTIVATIONS",
    "BACKBONES",
    "CATEGORIES",
    "LAYER_TYPES",
    "SCHEMA_VERSION",
    "TEMPLATES",
    "Activation",
    "AveragePooling2D",
    "Backbone",
    "BackboneInfo",
    "BatchNormalization",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAveragePooling2D",
    "Input",
    "Layer",
    "LayerInfo",
    "MaxPooling2D",
    "ModelSpec",
    "Preprocessing",
    "ShapeReport",
    "backbone_weights_available",
    "build_model",
    "conv2d_output_shape",
    "infer_shapes",
    "migrate",
    "pool2d_output_shape",
    "regularization_loss",
    "template",
]


def __getattr__(name: str) -> Any:
    if name == "SpecModel":  # imports torch
        from cnnstudio.core.spec.modules import (
            SpecModel as SpecModel,
        )  # for type checkers; loaded lazily below

        return SpecModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
