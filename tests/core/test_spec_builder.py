"""build_model: the torch model matches infer_shapes layer by layer; frozen layers; L1/L2 penalties."""

from __future__ import annotations

import pytest
import torch
from design_fixtures import AWKWARD
from torch import nn

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec import (
    LAYER_TYPES,
    TEMPLATES,
    Activation,
    AveragePooling2D,
    Backbone,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    MaxPooling2D,
    ModelSpec,
    build_model,
    infer_shapes,
    regularization_loss,
    template,
)

ALL_TYPES = {
    "Input",
    "Conv2D",
    "BatchNormalization",
    "MaxPooling2D",
    "AveragePooling2D",
    "Activation",
    "Dropout",
}
ALL_TYPES |= {"Flatten", "Dense", "GlobalAveragePooling2D", "Backbone"}


def randomised(spec: ModelSpec) -> ModelSpec:
    """The same design with backbones starting from random weights (the tests never load files)."""
    return spec.with_layers(
        [layer.replace(weights="random") if isinstance(layer, Backbone) else layer for layer in spec.layers]
    )


def run_with_hooks(model: nn.Module, spec: ModelSpec) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:]))) for m in model.layers
    ]
    model.eval()
    with torch.no_grad():
        model(torch.rand(1, spec.input.channels, spec.input.height, spec.input.width))
    for hook in hooks:
        hook.remove()
    return shapes


def check_matches_report(spec: ModelSpec, classes: int) -> nn.Module:
    report = infer_shapes(spec, classes)
    assert report.ok, report.error
    model = build_model(spec, classes)
    assert len(model.layers) == len(spec.layers) - 1
    assert run_with_hooks(model, spec) == [info.output_shape for info in report.layers[1:]]
    for module, info in zip(model.layers, report.layers[1:], strict=True):
        assert sum(p.numel() for p in module.parameters()) == info.params, info.name
        assert sum(p.numel() for p in module.parameters() if p.requires_grad) == info.trainable_params, (
            info.name
        )
    assert sum(p.numel() for p in model.parameters()) == report.total_params
    return model


# type -> the smallest design around it
AROUND = {
    "Input": [Input(5, 7, 1), Flatten(), Dense("auto")],
    "Conv2D": [Input(9, 8), Conv2D(4, 3, strides=2, activation="relu"), Flatten(), Dense("auto")],
    "MaxPooling2D": [Input(9, 8), MaxPooling2D(2), Flatten(), Dense("auto")],
    "AveragePooling2D": [Input(9, 8), AveragePooling2D(3, strides=1), Flatten(), Dense("auto")],
    "GlobalAveragePooling2D": [Input(9, 8), GlobalAveragePooling2D(), Dense("auto")],
    "Flatten": [Input(9, 8), Flatten(), Dense("auto")],
    "Dense": [Input(9, 8), Flatten(), Dense(5, activation="gelu", l2=0.1), Dense("auto")],
    "Dropout": [Input(9, 8), Dropout(0.3), Flatten(), Dense("auto")],
    "BatchNormalization": [Input(9, 8), BatchNormalization(), Flatten(), Dense("auto")],
    "Activation": [Input(9, 8), Activation("sigmoid"), Flatten(), Dense("auto")],
    "Backbone": [
        Input(32, 40),
        Backbone("mobilenet_v3_small", weights="random", train_blocks=3),
        Dense("auto"),
    ],
}


def test_around_covers_every_layer_type():
    assert set(AROUND) == set(LAYER_TYPES) == ALL_TYPES


@pytest.mark.parametrize("type_name", sorted(AROUND))
def test_every_layer_type_builds_as_inferred(type_name):
    check_matches_report(ModelSpec(AROUND[type_name]), 3)


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_every_template_builds_as_inferred(name):
    model = check_matches_report(randomised(template(name)), 5)
    assert model.output_shapes[-1] == (5,)


def test_seed_model_has_the_guides_parameter_count():
    model = build_model(template("seed"), 10)
    assert sum(p.numel() for p in model.parameters()) == 1_626_442


def test_a_design_with_every_layer_type_builds_as_inferred():
    flatten = [layer.type for layer in AWKWARD.layers].index("Flatten")
    with_gap = AWKWARD.insert_layer(flatten, GlobalAveragePooling2D()).remove_layer(flatten + 1)
    types = {layer.type for layer in AWKWARD.layers} | {"GlobalAveragePooling2D", "Backbone"}
    assert types == ALL_TYPES  # the Backbone is covered by the templates
    check_matches_report(AWKWARD, 3)
    check_matches_report(with_gap, 3)


def test_the_model_returns_logits_without_the_final_softmax():
    model = build_model(template("tiny"), 4)
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(3, 3, 32, 32) * 5)
    assert logits.shape == (3, 4)
    assert not torch.allclose(logits.sum(dim=1), torch.ones(3))
    assert isinstance(model.layers[-1].act, nn.Identity)
    # A softmax elsewhere is kept.
    middle = build_model(
        ModelSpec([Input(4, 4), Flatten(), Dense(6, activation="softmax"), Dense("auto")]), 2
    )
    assert isinstance(middle.layers[1].act, nn.Softmax)


def test_same_pooling_ignores_the_padding():
    spec = ModelSpec([Input(5, 5, 1), AveragePooling2D(2, padding="same"), Flatten(), Dense("auto")])
    avg = build_model(spec, 2).layers[0]
    assert torch.equal(avg(torch.ones(1, 1, 5, 5)), torch.ones(1, 1, 3, 3))
    spec = ModelSpec([Input(5, 5, 1), MaxPooling2D(2, padding="same"), Flatten(), Dense("auto")])
    biggest = build_model(spec, 2).layers[0]
    assert torch.equal(biggest(-torch.ones(1, 1, 5, 5)), -torch.ones(1, 1, 3, 3))


def test_same_padding_puts_the_extra_row_at_the_bottom_like_keras():
    spec = ModelSpec([Input(4, 4, 1), Conv2D(1, 3, strides=2, padding="same"), Flatten(), Dense("auto")])
    conv = build_model(spec, 2).layers[0]
    with torch.no_grad():
        conv.conv.weight.zero_()
        conv.conv.weight[0, 0, 0, 0] = 1.0  # picks the top-left pixel of each window
        conv.conv.bias.zero_()
    x = torch.arange(16.0).view(1, 1, 4, 4)
    # Keras pads 0 rows on top and 1 at the bottom, so the windows start at rows/columns 0 and 2.
    assert torch.equal(conv(x), x[:, :, ::2, ::2])


def test_keras_initialisation():
    dense = build_model(template("seed"), 3).layers[-1].linear
    assert torch.count_nonzero(dense.bias) == 0
    limit = (6 / (128 + 3)) ** 0.5  # Glorot uniform
    assert dense.weight.abs().max() <= limit


def test_frozen_layers_do_not_train():
    spec = ModelSpec(
        [
            Input(8, 8),
            Conv2D(4, 3, trainable=False),
            BatchNormalization(trainable=False),
            Flatten(),
            Dense("auto"),
        ]
    )
    model = build_model(spec, 2)
    assert not any(p.requires_grad for p in model.layers[0].parameters())
    assert all(p.requires_grad for p in model.layers[3].parameters())
    model.train()
    assert model.training and model.layers[3].training
    assert not model.layers[1].training  # a frozen batch norm keeps its running statistics
    before = model.layers[1].running_mean.clone()
    model(torch.randn(4, 3, 8, 8) + 3)
    assert torch.equal(model.layers[1].running_mean, before)
    model.eval()
    assert not model.layers[3].training


def test_a_frozen_backbone_trains_only_its_last_blocks():
    spec = ModelSpec(
        [
            Input(32, 32),
            Backbone("resnet18", weights="random", train_blocks=1),
            Dense("auto", activation="softmax"),
        ]
    )
    model = build_model(spec, 3)
    net = model.layers[0].net
    trainable = {name.split(".")[0] for name, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"layer4"}
    assert (
        sum(p.numel() for p in model.parameters() if p.requires_grad)
        == infer_shapes(spec, 3).trainable_params
    )
    model.train()
    assert not net.layer3[0].bn1.training and net.layer4[0].bn1.training
    assert model.feature_layer() is net.layer4
    frozen = build_model(spec.replace_layer(1, spec.layers[1].replace(trainable=False)), 3)
    assert not any(p.requires_grad for p in frozen.layers[0].parameters())


def test_feature_layer_is_the_last_picture_shaped_layer():
    model = build_model(template("seed"), 3)
    assert model.feature_layer() is model.layers[3]  # the second MaxPooling2D, before Flatten


def test_regularization_loss_is_the_keras_kernel_penalty():
    spec = ModelSpec(
        [
            Input(3, 3, 1),
            Conv2D(2, 3, l1=0.5, l2=0.25),
            Flatten(),
            Dense(4, l2=0.1),
            Dense("auto"),  # no penalty
        ]
    )
    model = build_model(spec, 2)
    conv, dense = model.layers[0].conv, model.layers[2].linear
    with torch.no_grad():
        conv.weight.fill_(-2.0)  # 18 numbers
        conv.bias.fill_(100.0)  # biases are not penalised
        dense.weight.fill_(3.0)  # 8 numbers
        model.layers[3].linear.weight.fill_(7.0)
    expected = 0.5 * 18 * 2 + 0.25 * 18 * 4 + 0.1 * 8 * 9
    loss = regularization_loss(model)
    assert loss.shape == () and loss.item() == pytest.approx(expected)
    loss.backward()
    assert conv.weight.grad is not None
    assert regularization_loss(build_model(template("seed"), 3)).item() == 0.0


def test_an_invalid_design_does_not_build():
    with pytest.raises(UserError, match="Dense #2: this layer needs a flat input"):
        build_model(ModelSpec([Input(8, 8), Conv2D(4, 3), Dense("auto")]), 2)


def test_penalty_and_model_follow_the_device():
    model = build_model(ModelSpec(AROUND["Dense"]), 3).to("meta")  # stands in for a GPU: no data moves
    assert regularization_loss(model).device.type == "meta"
    assert model(torch.zeros(2, 3, 9, 8, device="meta")).shape == (2, 3)
