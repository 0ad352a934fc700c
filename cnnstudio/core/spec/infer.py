"""infer_shapes: walk a ModelSpec without torch, giving each layer's shape and cost, or the first
problem with the layer's number, the numbers involved and a fix in plain words."""

from __future__ import annotations

from cnnstudio.core.spec.backbones import Backbone
from cnnstudio.core.spec.layer_base import Layer, Shape, keras_name
from cnnstudio.core.spec.layers import Activation, Dense, Input
from cnnstudio.core.spec.model_spec import ModelSpec
from cnnstudio.core.spec.report import LayerInfo, ShapeReport

BYTES_PER_NUMBER = 4  # float32


def display_names(layers: list[Layer]) -> list[str]:
    """Each layer's own name, else Keras' default: conv2d, conv2d_1, conv2d_2, ..."""
    seen: dict[str, int] = {}
    names = []
    for layer in layers:
        base = keras_name(layer.type)
        count = seen.get(base, 0)
        seen[base] = count + 1
        names.append(layer.name or (base if count == 0 else f"{base}_{count}"))
    return names


def head_index(layers: list[Layer]) -> int | None:
    """The index of the Dense layer that gives the class scores: the last layer, or the last one
    before trailing softmax Activations (which the builder omits, like a final softmax)."""
    index = len(layers) - 1
    while index > 0 and isinstance(layers[index], Activation) and layers[index].activation == "softmax":
        index -= 1
    return index if index > 0 and isinstance(layers[index], Dense) else None


def _check_position(index: int, layer: Layer) -> None:
    if index == 0 and not isinstance(layer, Input):
        raise ValueError(
            "the model must start with an Input layer that gives the picture's size; add one at the top."
        )
    if index > 0 and isinstance(layer, Input):
        raise ValueError("only the first layer can be an Input; remove this one.")
    if isinstance(layer, Backbone) and index != 1:
        raise ValueError(
            "a pre-trained Backbone must come right after the Input (it reads the picture itself); move it there."
        )


def _check_head(layer: Dense, output_shape: Shape, num_classes: int) -> None:
    if layer.activation not in (None, "softmax"):
        raise ValueError(
            f"the last Dense layer gives the class scores, so its activation must be 'softmax' or none "
            f"(it is {layer.activation!r})."
        )
    if output_shape[0] != num_classes:
        raise ValueError(
            f"the last Dense layer has {output_shape[0]} outputs but there are {num_classes} classes; "
            "set it to 'auto'."
        )


def infer_shapes(spec: ModelSpec, num_classes: int) -> ShapeReport:
    """Shapes, parameters, FLOPs and memory of `spec` for `num_classes` classes. Never raises for a
    bad design: the report's `error` (and that layer's) says what is wrong; later layers get no shape."""
    layers = spec.layers
    report = ShapeReport(layers=[], num_classes=num_classes)
    if not layers:
        report.error = "The model has no layers yet: start with an Input layer."
        return report
    head = head_index(layers)
    shape: Shape | None = None
    activations = 0
    for index, (layer, name) in enumerate(zip(layers, display_names(layers), strict=True)):
        info = LayerInfo(index, name, layer.type, None)
        report.layers.append(info)
        if report.error is not None:
            continue
        try:
            _check_position(index, layer)
            layer.check()
            result = layer.infer(shape, num_classes)
            info.output_shape = result.output_shape
            info.params, info.trainable_params, info.flops = (
                result.params,
                result.trainable_params,
                result.flops,
            )
            info.note = result.note
            activations += result.activations
            if index == head:
                _check_head(layer, result.output_shape, num_classes)
        except ValueError as exc:
            info.error = report.error = f"{layer.type} #{index}: {exc}"
            if index != head:
                info.output_shape = None
            continue
        shape = result.output_shape
        if info.note:
            report.notes.append(f"{layer.type} #{index}: {info.note}")

    report.total_params = sum(info.params for info in report.layers)
    report.trainable_params = sum(info.trainable_params for info in report.layers)
    report.frozen_params = report.total_params - report.trainable_params
    report.flops = sum(info.flops for info in report.layers)
    report.memory_bytes = BYTES_PER_NUMBER * (report.total_params + activations)
    if report.error is None and head is None:
        report.error = (
            "The model must end with a Dense layer that gives one score per class: "
            "add a Dense layer with units 'auto' at the end."
        )
    if report.error is None and num_classes < 2:
        report.error = f"A classifier needs at least 2 classes to tell apart; there is {num_classes}."
    return report
