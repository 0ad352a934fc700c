"""ModelSpec -> torch model. torch is imported inside the functions, so that importing
cnnstudio.core.spec stays light (the designer shows shapes before torch is loaded)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec.infer import head_index, infer_shapes
from cnnstudio.core.spec.model_spec import ModelSpec

if TYPE_CHECKING:
    import torch

    from cnnstudio.core.spec.modules import SpecModel


def build_model(spec: ModelSpec, num_classes: int) -> SpecModel:
    """A SpecModel (torch.nn.Module) for `spec`: normalised float (N, C, H, W) in, logits (N, K) out.

    Its parameter count is infer_shapes' total. Layers with trainable=False, and a Backbone but for
    its last train_blocks blocks, have requires_grad False. A design with a problem raises
    UserError with infer_shapes' message. A Backbone with weights="imagenet" whose file is not on
    this computer starts from random weights (model.notes says so).
    """
    report = infer_shapes(spec, num_classes)
    if report.error is not None:
        raise UserError(report.error)
    from cnnstudio.core.spec.modules import SpecModel, module_for

    head = head_index(spec.layers)
    assert head is not None  # infer_shapes reports a missing class-score Dense
    modules = []
    for index in range(1, len(spec.layers)):
        layer = spec.layers[index]
        module = module_for(layer, report.layers[index - 1].output_shape, num_classes, in_head=index >= head)
        if not layer.trainable:
            module.requires_grad_(False)
        modules.append(module)
    shapes = [info.output_shape for info in report.layers[1:]]
    return SpecModel(modules, spec, num_classes, shapes, list(report.notes))


def regularization_loss(model: torch.nn.Module) -> torch.Tensor:
    """The L1/L2 penalties of the spec, as Keras' kernel_regularizer adds them to the loss:
    sum of l1 * |w|.sum() + l2 * (w**2).sum() over Conv2D and Dense kernels (not biases).
    A 0-dim tensor on the model's device; 0 when no layer has a penalty."""
    import torch

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    total = torch.zeros((), device=device)
    for module in model.modules():
        l1, l2 = getattr(module, "l1", 0.0), getattr(module, "l2", 0.0)
        if not (l1 or l2) or not hasattr(module, "kernel"):
            continue
        weight = module.kernel
        if l1:
            total = total + l1 * weight.abs().sum()
        if l2:
            total = total + l2 * weight.pow(2).sum()
    return total
