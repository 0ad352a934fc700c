"""Pure shape math and infer_shapes: counts, and a plain message for every kind of broken design."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cnnstudio.core.spec import (
    Activation,
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
    conv2d_output_shape,
    infer_shapes,
    pool2d_output_shape,
    template,
)
from cnnstudio.core.spec.shapes import same_padding


def spec(*layers):
    return ModelSpec(list(layers))


def test_conv_and_pool_output_shapes():
    assert conv2d_output_shape((64, 64), 3) == (62, 62)
    assert conv2d_output_shape((64, 64), 3, 2, "valid") == (31, 31)
    assert conv2d_output_shape((63, 64), (3, 5), 2, "same") == (32, 32)
    assert pool2d_output_shape((62, 62), 2) == (31, 31)
    assert pool2d_output_shape((7, 7), 2, padding="same") == (4, 4)
    assert pool2d_output_shape((7, 7), 3, 1) == (5, 5)


def test_shape_errors_say_the_numbers():
    with pytest.raises(ValueError, match="this 5x5 filter no longer fits: the picture is 3x3 here"):
        conv2d_output_shape((3, 3), 5)
    with pytest.raises(ValueError, match="this 2x2 pooling window no longer fits: the picture is 1x1 here"):
        pool2d_output_shape((1, 1), 2)
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        conv2d_output_shape((8, 8), 3, 1, "full")


def test_same_padding_puts_the_odd_one_after():
    assert same_padding(5, 3, 1) == (1, 1)
    assert same_padding(4, 3, 2) == (0, 1)
    assert same_padding(5, 3, 2) == (1, 1)
    assert same_padding(6, 2, 1) == (0, 1)
    assert same_padding(8, 2, 2) == (0, 0)


def test_seed_template_counts_like_the_keras_guide():
    report = infer_shapes(template("seed"), 10)
    assert report.ok and report.error is None
    assert [info.params for info in report.layers] == [0, 896, 0, 18_496, 0, 0, 1_605_760, 1_290]
    assert report.total_params == report.trainable_params == 1_626_442
    assert report.frozen_params == 0
    assert [info.output_shape for info in report.layers] == [
        (3, 64, 64), (32, 62, 62), (32, 31, 31), (64, 29, 29), (64, 14, 14), (12544,), (128,), (10,),
    ]  # fmt: skip
    assert [info.name for info in report.layers][:4] == ["input", "conv2d", "max_pooling2d", "conv2d_1"]
    # FLOPs: a multiply-add counts 2; the ReLU one per output number.
    assert report.layers[1].flops == 2 * 27 * 32 * 62 * 62 + 32 * 62 * 62
    assert report.layers[6].flops == 2 * 12544 * 128 + 128
    activations = 3 * 64 * 64 + 32 * 62 * 62 + 32 * 31 * 31 + 64 * 29 * 29 + 64 * 14 * 14 + 128 + 10
    assert report.memory_bytes == 4 * (1_626_442 + activations)
    assert report.output_shape == (10,)


def test_auto_units_and_a_final_softmax_follow_the_classes():
    report = infer_shapes(template("seed"), 3)
    assert report.ok and report.layers[-1].output_shape == (3,)
    trailing = spec(Input(8, 8), Flatten(), Dense("auto"), Activation("softmax"))
    assert infer_shapes(trailing, 4).ok


BROKEN = [
    (
        spec(
            Input(10, 10),
            Conv2D(8, 3),
            MaxPooling2D(2),
            MaxPooling2D(2),
            Conv2D(8, 3),
            Flatten(),
            Dense("auto"),
        ),
        4,
        "Conv2D #4: this 3x3 filter no longer fits: the picture is 2x2 here. "
        "Remove a pooling layer or use 'same' padding.",
    ),
    (
        spec(Input(16, 16), MaxPooling2D(4), MaxPooling2D(4), MaxPooling2D(2), Flatten(), Dense("auto")),
        3,
        "MaxPooling2D #3: this 2x2 pooling window no longer fits: the picture is 1x1 here.",
    ),
    (
        spec(Input(32, 32), Conv2D(8, 3), Dense("auto")),
        2,
        "Dense #2: this layer needs a flat input (the data is 8 channels of 30x30 here): "
        "add Flatten or GlobalAveragePooling2D before it.",
    ),
    (
        spec(Input(32, 32), Flatten(), Conv2D(8, 3), Dense("auto")),
        2,
        "Conv2D #2: this layer needs a picture-shaped input, but the data is already flat here (3,072 numbers).",
    ),
    (spec(Conv2D(8, 3), Flatten(), Dense("auto")), 2, "Conv2D #0: the model must start with an Input layer"),
    (
        spec(Input(8, 8), Input(8, 8), Flatten(), Dense("auto")),
        2,
        "Input #1: only the first layer can be an Input",
    ),
    (
        spec(Input(64, 64), Conv2D(3, 3), Backbone("resnet18", weights="random"), Dense("auto")),
        2,
        "Backbone #2: a pre-trained Backbone must come right after the Input",
    ),
    (
        spec(Input(8, 8, 2), Flatten(), Dense("auto")),
        2,
        "Input #0: channels must be 3 (colour) or 1 (grey) (it is 2)",
    ),
    (
        spec(Input(0, 8), Flatten(), Dense("auto")),
        2,
        "Input #0: height must be a whole number of 1 or more (it is 0)",
    ),
    (
        spec(Input(8, 8), Conv2D(0, 3), Flatten(), Dense("auto")),
        2,
        "Conv2D #1: filters must be a whole number of 1 or more (it is 0)",
    ),
    (
        spec(Input(8, 8), Conv2D(4, -1), Flatten(), Dense("auto")),
        2,
        "Conv2D #1: kernel_size must be a whole number of 1 or more (it is -1)",
    ),
    (
        spec(Input(8, 8), MaxPooling2D(2, strides=0), Flatten(), Dense("auto")),
        2,
        "MaxPooling2D #1: strides must be a whole number of 1 or more (it is 0)",
    ),
    (
        spec(Input(8, 8), Flatten(), Dense(-3), Dense("auto")),
        2,
        "Dense #2: units must be a whole number of 1 or more (it is -3)",
    ),
    (
        spec(Input(8, 8), Flatten(), Dropout(1.5), Dense("auto")),
        2,
        "Dropout #2: rate must be at least 0 and below 1 (it is 1.5)",
    ),
    (
        spec(Input(8, 8), Conv2D(4, 3, padding="full"), Flatten(), Dense("auto")),
        2,
        "Conv2D #1: padding must be one of 'valid', 'same' (it is 'full')",
    ),
    (
        spec(Input(8, 8), Flatten(), Activation("swish"), Dense("auto")),
        2,
        "Activation #2: activation must be one of 'relu'",
    ),
    (
        spec(Input(8, 8), Conv2D(4, 3, l2=-1.0), Flatten(), Dense("auto")),
        2,
        "Conv2D #1: l2 must be 0 (off) or a small positive number",
    ),
    (
        spec(Input(8, 8), BatchNormalization(momentum=1.0), Flatten(), Dense("auto")),
        2,
        "BatchNormalization #1: momentum must be",
    ),
    (
        spec(Input(64, 64), Flatten(), Dense(128), Dense(5, activation="softmax")),
        3,
        "Dense #3: the last Dense layer has 5 outputs but there are 3 classes; set it to 'auto'",
    ),
    (
        spec(Input(8, 8), Flatten(), Dense("auto", activation="relu")),
        3,
        "Dense #2: the last Dense layer gives the class scores, so its activation must be 'softmax' or none (it is 'relu')",
    ),
    (
        spec(Input(64, 64, 1), Backbone("resnet18", weights="random"), Dense("auto")),
        2,
        "Backbone #1: ResNet-18 was trained on colour pictures: set the Input's channels to 3",
    ),
    (
        spec(Input(24, 64), Backbone("efficientnet_b0", weights="random"), Dense("auto")),
        2,
        "Backbone #1: EfficientNet-B0 shrinks the picture 32 times, so it needs at least 32x32 pixels; "
        "the Input is 24x64.",
    ),
    (
        spec(Input(64, 64), Backbone("resnet18", weights="random", train_blocks=6), Dense("auto")),
        2,
        "Backbone #1: ResNet-18 has 5 blocks, so train_blocks must be from 0 (all frozen) to 5 (all trained); it is 6.",
    ),
    (
        spec(Input(64, 64), Backbone("vgg16", weights="random"), Dense("auto")),
        2,
        "Backbone #1: arch must be one of 'resnet18', 'mobilenet_v3_small', 'efficientnet_b0' (it is 'vgg16')",
    ),
    (
        spec(Input(64, 64), Backbone("resnet18", weights="/nowhere/resnet.pth"), Dense("auto")),
        2,
        "Backbone #1: the weights file /nowhere/resnet.pth is not there any more",
    ),
]


@pytest.mark.parametrize(
    ("design", "classes", "message"),
    BROKEN,
    ids=[m.split(":")[0] + f"-{i}" for i, (_, _, m) in enumerate(BROKEN)],
)
def test_broken_designs_name_the_layer_and_the_numbers(design, classes, message):
    report = infer_shapes(design, classes)
    assert not report.ok
    assert report.error.startswith(message), report.error
    index = int(message.split("#")[1].split(":")[0])
    assert report.layers[index].error == report.error
    assert len(report.layers) == len(design.layers)  # every layer is still listed
    assert all(info.output_shape is None for info in report.layers[index + 1 :])
    assert all(info.error is None for info in report.layers if info.index != index)


def test_a_design_without_a_final_dense_says_so():
    report = infer_shapes(spec(Input(8, 8), Conv2D(4, 3), GlobalAveragePooling2D()), 3)
    assert report.error == (
        "The model must end with a Dense layer that gives one score per class: "
        "add a Dense layer with units 'auto' at the end."
    )
    assert report.layers[-1].output_shape == (4,)
    assert infer_shapes(spec(Input(8, 8), Flatten(), Dense("auto"), Dropout(0.2)), 3).error.startswith(
        "The model must end with a Dense layer"
    )


def test_empty_design_and_too_few_classes():
    assert infer_shapes(ModelSpec([]), 3).error == "The model has no layers yet: start with an Input layer."
    report = infer_shapes(template("tiny"), 1)
    assert report.error == "A classifier needs at least 2 classes to tell apart; there is 1."


def test_frozen_layers_count_as_frozen():
    design = spec(Input(8, 8), Conv2D(4, 3, trainable=False), Flatten(), Dense("auto"))
    report = infer_shapes(design, 2)
    assert report.frozen_params == 3 * 3 * 3 * 4 + 4
    assert report.trainable_params == (6 * 6 * 4) * 2 + 2  # the Dense layer
    assert "(Conv2D, frozen)" in report.format_table()


def test_backbone_report_is_frozen_with_a_note_when_no_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache: no pre-trained weights here
    report = infer_shapes(template("resnet18"), 3)
    assert report.ok
    backbone = report.layers[1]
    assert (backbone.output_shape, backbone.params, backbone.trainable_params) == ((512,), 11_176_512, 0)
    assert backbone.note == (
        "No pre-trained weights on this computer: random weights, so training will not learn well "
        "(get them with 'Get the pre-trained weights' or `cnnstudio weights get`)"
    )
    assert report.notes == [f"Backbone #1: {backbone.note}"]
    assert report.trainable_params == 512 * 3 + 3
    partly = infer_shapes(
        template("resnet18").replace_layer(1, Backbone("resnet18", weights="random", train_blocks=1)), 3
    )
    assert partly.layers[1].trainable_params == 8_393_728 and partly.notes == []


def test_infer_shapes_does_not_import_torch():
    code = (
        "import sys\n"
        "from cnnstudio.core.spec import template, infer_shapes, TEMPLATES\n"
        "for name in TEMPLATES:\n"
        "    assert infer_shapes(template(name), 10).ok\n"
        "from cnnstudio.cli import main\n"
        "assert main(['spec', '--template', 'seed']) == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
