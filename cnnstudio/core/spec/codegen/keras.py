"""The Keras writer: the design in the Keras guide's style, a translation (see the package's docstring).

Pure text generation: importing this module does not import keras.
"""

from __future__ import annotations

import re
from pathlib import Path

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec.backbones import BACKBONES, Backbone
from cnnstudio.core.spec.codegen.common import checked_report as _checked
from cnnstudio.core.spec.codegen.common import number_text as _num
from cnnstudio.core.spec.infer import head_index
from cnnstudio.core.spec.layer_base import Layer
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
from cnnstudio.core.spec.model_spec import ModelSpec
from cnnstudio.core.spec.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from cnnstudio.core.spec.shapes import pair

KERAS_APPLICATIONS = {
    "mobilenet_v3_small": "MobileNetV3Small",
    "efficientnet_b0": "EfficientNetB0",
}
_KERAS_QUOTE = "'"  # the guide writes activation='relu'


def _q(text: str) -> str:
    return _KERAS_QUOTE + text.replace("\\", "\\\\").replace(_KERAS_QUOTE, "\\'") + _KERAS_QUOTE


def _keras_pair(value) -> str:
    first, second = pair(value)
    return f"({first}, {second})"


def _keras_common(layer: Layer, args: list[str]) -> str:
    if getattr(layer, "l1", 0) or getattr(layer, "l2", 0):
        args.append(f"kernel_regularizer=keras.regularizers.L1L2(l1={_num(layer.l1)}, l2={_num(layer.l2)})")
    if not layer.trainable:
        args.append("trainable=False")
    if layer.name:
        args.append(f"name={_q(layer.name)}")
    return ", ".join(args)


def _keras_layer(layer: Layer) -> list[str]:
    """The Sequential list entries of one layer (a comment line, then the layer)."""
    if isinstance(layer, Conv2D):
        args = [str(layer.filters), _keras_pair(layer.kernel_size)]
        if pair(layer.strides) != (1, 1):
            args.append(f"strides={_keras_pair(layer.strides)}")
        if layer.padding != "valid":
            args.append(f"padding={_q(layer.padding)}")
        if layer.activation:
            args.append(f"activation={_q(layer.activation)}")
        return [f"layers.Conv2D({_keras_common(layer, args)}),"]
    if isinstance(layer, MaxPooling2D | AveragePooling2D):
        args = [_keras_pair(layer.pool_size)]
        if layer.strides is not None:
            args.append(f"strides={_keras_pair(layer.strides)}")
        if layer.padding != "valid":
            args.append(f"padding={_q(layer.padding)}")
        return [f"layers.{layer.type}({_keras_common(layer, args)}),"]
    if isinstance(layer, GlobalAveragePooling2D | Flatten):
        lines = []
        if isinstance(layer, Flatten):
            lines.append("# Keras flattens row by row (height, width, channels); CNN Studio channel first.")
        return [*lines, f"layers.{layer.type}({_keras_common(layer, [])}),"]
    if isinstance(layer, Dense):
        args = ["num_classes" if layer.units == "auto" else str(layer.units)]
        if layer.activation:
            args.append(f"activation={_q(layer.activation)}")
        return [f"layers.Dense({_keras_common(layer, args)}),"]
    if isinstance(layer, Dropout):
        return [f"layers.Dropout({_keras_common(layer, [_num(layer.rate)])}),"]
    if isinstance(layer, BatchNormalization):
        args = [f"momentum={_num(layer.momentum)}", f"epsilon={_num(layer.epsilon)}"]
        return [f"layers.BatchNormalization({_keras_common(layer, args)}),"]
    if isinstance(layer, Activation):
        return [f"layers.Activation({_keras_common(layer, [_q(layer.activation)])}),"]
    if isinstance(layer, Backbone):
        lines = []
        if layer.arch == "resnet18":  # torchvision's preprocessing: 0..1, then ImageNet mean and std
            variance = ", ".join(_num(round(s * s, 6)) for s in IMAGENET_STD)
            mean = ", ".join(_num(m) for m in IMAGENET_MEAN)
            lines += [
                "layers.Rescaling(1./255),",
                f"layers.Normalization(mean=[{mean}], variance=[{variance}]),",
            ]
        return [*lines, "base_model,"]
    raise UserError(f"Code generation does not know the {layer.type} layer yet.")


_KERAS_RESNET18 = '''
def resnet18(input_shape):
    """ResNet-18 (He et al., 2015) as torchvision builds it, without its classifier: 11,176,512
    parameters, 512 numbers per picture. keras.applications has no ResNet-18, so it is written out.
    Zero padding before the max pooling equals PyTorch's, because it follows a ReLU (no negatives)."""

    def conv_bn(x, filters, kernel, stride, name, relu=True):
        if kernel > 1:
            x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        x = layers.Conv2D(filters, kernel, strides=stride, use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x) if relu else x

    def basic_block(x, filters, stride, name):
        y = conv_bn(x, filters, 3, stride, f"{name}_a")
        y = conv_bn(y, filters, 3, 1, f"{name}_b", relu=False)
        shortcut = x
        if stride != 1 or x.shape[-1] != filters:
            shortcut = conv_bn(x, filters, 1, stride, f"{name}_down", relu=False)
        return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([y, shortcut]))

    inputs = keras.Input(shape=input_shape)
    x = conv_bn(inputs, 64, 7, 2, "conv1")  # the stem: "conv1" (its batch norm included)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, filters in enumerate((64, 128, 256, 512), start=1):  # "layer1" ... "layer4"
        for block in range(2):
            x = basic_block(x, filters, 2 if stage > 1 and block == 0 else 1, f"layer{stage}_{block}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, x, name="resnet18")
'''.strip("\n").splitlines()


def _keras_resnet18(layer: Backbone, input_shape: str) -> list[str]:
    lines = ["", *_KERAS_RESNET18, "", "", f"base_model = resnet18({input_shape})"]
    blocks = ["conv1", "layer1", "layer2", "layer3", "layer4"]  # the backbone's blocks, in order
    if layer.weights == "random":
        lines.append("# Random starting weights, as in the design.")
    else:
        source = (
            "ImageNet weights (torchvision's)" if layer.weights == "imagenet" else Path(layer.weights).name
        )
        lines += [
            f"# CNN Studio starts this backbone from {source}. Keras has no ResNet-18 weights, so",
            "# here it starts from random weights: train the whole network, as below, or copy",
            "# torchvision's weights across layer by layer.",
        ]
    trained = 0 if not layer.trainable else layer.train_blocks
    if layer.weights == "random" or trained == len(blocks):
        lines.append("base_model.trainable = True")
    elif trained == 0:
        lines.append(
            "base_model.trainable = True  # frozen in CNN Studio, where it has learned weights; not here"
        )
    else:
        names = ", ".join(_q(b) for b in blocks[-trained:])
        lines += [
            f"# CNN Studio trains the last {trained} of ResNet-18's {len(blocks)} blocks; with random weights",
            "# here, train all of them, or after copying weights across, only those:",
            "base_model.trainable = True",
            f"# for layer in base_model.layers: layer.trainable = layer.name.startswith(({names},))",
        ]
    return lines


def _keras_backbone(layer: Backbone, input_shape: str) -> list[str]:
    if layer.arch == "resnet18":
        return _keras_resnet18(layer, input_shape)
    info = BACKBONES[layer.arch]
    app = KERAS_APPLICATIONS[layer.arch]
    lines = []
    weights = _q("imagenet") if layer.weights == "imagenet" else "None"
    lines.append(
        f"base_model = keras.applications.{app}(input_shape={input_shape}, include_top=False, "
        f"weights={weights}, pooling={_q('avg')})"
    )
    if layer.weights not in ("imagenet", "random"):
        lines.append(
            f"# The design loads {Path(layer.weights).name}, a PyTorch weights file; Keras cannot read it."
        )
    if not layer.trainable or layer.train_blocks == 0:
        lines.append("base_model.trainable = False  # frozen: only the new layers learn")
    else:
        lines += [
            f"# CNN Studio trains the last {layer.train_blocks} of {info.title}'s {len(info.blocks)} blocks;",
            "# in Keras, unfreeze the matching layers at the end of base_model.layers:",
            "base_model.trainable = True",
            "for layer in base_model.layers[:-20]:  # adjust 20 to the layers of those blocks",
            "    layer.trainable = False",
        ]
    return lines


def keras_code(spec: ModelSpec, num_classes: int) -> str:
    """The design in the Keras guide's style, ending with model.compile(...). A translation (see
    the module's docstring); UserError when the design does not work."""
    _checked(spec, num_classes)
    spec_input = spec.input
    head = head_index(spec.layers)
    input_shape = f"({spec_input.height}, {spec_input.width}, {spec_input.channels})"
    out = [
        f'"""The model design "{spec.name}" as Keras code, written by CNN Studio in the style of the Keras guide.',
        "",
        "A translation: CNN Studio trains the PyTorch version. The layers and shapes match; Keras orders",
        "a Flatten's numbers differently (rows first, channels last), so weights cannot be copied across.",
        '"""',
        "",
        "import keras",
        "from keras import layers",
        "",
        f"num_classes = {num_classes}",
        f"image_size = ({spec_input.height}, {spec_input.width})",
        "",
    ]
    for layer in spec.layers:
        if isinstance(layer, Backbone):
            out += [*_keras_backbone(layer, input_shape), ""]
    entries = [f"layers.Input(shape={input_shape}),"]
    if not spec.has_backbone:
        entries.append("layers.Rescaling(1./255),")  # keras.applications models scale the pixels themselves
    for layer in spec.layers[1:]:
        entries += _keras_layer(layer)
    out.append("model = keras.Sequential(")
    out.append("    [")
    out += [f"        {entry}" for entry in entries]
    out.append("    ],")
    out.append(f"    name={_q(_keras_model_name(spec.name))},")
    out.append(")")
    head_layer = spec.layers[head] if head is not None else None
    tail_softmax = head is not None and head < len(spec.layers) - 1
    if isinstance(head_layer, Dense) and (head_layer.activation == "softmax" or tail_softmax):
        loss = _q("sparse_categorical_crossentropy")
    else:  # no softmax at the end: the last layer gives logits
        loss = "keras.losses.SparseCategoricalCrossentropy(from_logits=True)"
    out += [
        f"model.compile(optimizer={_q('adam')}, loss={loss}, metrics=[{_q('accuracy')}])",
        "model.summary()",
        "",
        "# Load the pictures (one sub-folder per class) and train:",
        *_keras_data_lines(spec),
    ]
    return "\n".join(out) + "\n"


def _keras_model_name(name: str) -> str:
    # Keras model names may not contain "/" and read best without spaces.
    return re.sub(r"[^\w.-]", "_", name) or "model"


def _keras_data_lines(spec: ModelSpec) -> list[str]:
    spec_input = spec.input
    options = ["image_size=image_size", "batch_size=32"]
    if spec_input.channels == 1:
        options.append(f"color_mode={_q('grayscale')}")
    if spec_input.fit == "crop":
        options.append("crop_to_aspect_ratio=True")
    elif spec_input.fit == "pad":
        options.append("pad_to_aspect_ratio=True")
    opts = ", ".join(options)
    return [
        "# train_ds, val_ds = keras.utils.image_dataset_from_directory(",
        f"#     {_q('path/to/pictures')}, validation_split=0.2, subset={_q('both')}, seed=1337, {opts})",
        "# model.fit(train_ds, epochs=10, validation_data=val_ds)",
    ]
