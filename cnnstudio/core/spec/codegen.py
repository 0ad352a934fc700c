"""A model design as code a person can read, copy and run: PyTorch (faithful) and Keras (a translation).

`pytorch_code(spec, num_classes)` writes a self-contained `nn.Module` that is the model CNN Studio
builds: the same layers in the same order, the same parameter count and, given the same weights,
the same outputs (same padding, Keras' weight initialisation, logits out). "same" padding is
written as fixed amounts, which the generated code can do because the picture size is fixed.

`keras_code(spec, num_classes)` writes the design in the Keras guide's style
(`keras.Sequential([layers.Input(...), layers.Rescaling(1./255), layers.Conv2D(...), ...])` and
`model.compile(...)`). It is a translation, not what CNN Studio runs: the layers, shapes and
parameter counts match, but
- Keras keeps pictures as (height, width, channels), so its Flatten lists the numbers in another
  order than CNN Studio's channel-first Flatten: a design trains the same way, but weights cannot
  be copied between the two versions;
- Keras has no ResNet-18 in keras.applications, so the code writes one out (functional API, the same
  blocks, strides, paddings and parameter count as torchvision's); Keras has no ImageNet weights
  for it, so it starts from random weights there (said in the code);
- Keras' BatchNormalization also counts its running mean and variance as (non-trainable)
  parameters, so model.summary() shows more parameters than CNN Studio does.

Pure text generation: importing this module imports neither torch nor keras.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec.backbones import BACKBONES, Backbone
from cnnstudio.core.spec.infer import display_names, head_index, infer_shapes
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
from cnnstudio.core.spec.model_spec import ModelSpec
from cnnstudio.core.spec.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from cnnstudio.core.spec.shapes import pair, same_padding

# torchvision's enum member of each backbone's ImageNet weights (the file BACKBONES names).
TORCHVISION_WEIGHTS = "IMAGENET1K_V1"
KERAS_APPLICATIONS = {
    "mobilenet_v3_small": "MobileNetV3Small",
    "efficientnet_b0": "EfficientNetB0",
}
LEAKY_RELU_SLOPE = 0.2
# Attribute names an nn.Module already uses: a layer called "train" must not hide Module.train().
_RESERVED = {
    "training", "forward", "train", "eval", "parameters", "modules", "children", "state_dict", "to",
    "cpu", "cuda", "float", "half", "double", "type", "apply", "zero_grad", "backbone_weights",
    "regularization_loss", "register_buffer", "buffers", "named_modules", "requires_grad_",
}  # fmt: skip


def _checked(spec: ModelSpec, num_classes: int):
    report = infer_shapes(spec, num_classes)
    if report.error is not None:
        raise UserError(f"This design cannot be written as code until it works: {report.error}")
    return report


def _identifiers(layers: list[Layer]) -> list[str]:
    """Python attribute names from the layers' display names (conv2d, conv2d_1, ...)."""
    used: set[str] = set()
    out = []
    for name in display_names(layers):
        ident = re.sub(r"\W", "_", name).strip("_").lower() or "layer"
        if ident[0].isdigit():
            ident = f"layer_{ident}"
        if keyword.iskeyword(ident) or ident in _RESERVED:
            ident = f"{ident}_layer"
        base, n = ident, 1
        while ident in used:
            ident, n = f"{base}_{n}", n + 1
        used.add(ident)
        out.append(ident)
    return out


def _num(value: float) -> str:
    """A float as short as it is exact enough: 0.1, not 0.09999999999999998."""
    return repr(round(float(value), 10))


def _tuple(values: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(v) for v in values) + ("," if len(values) == 1 else "") + ")"


def _shape_text(shape: Shape) -> str:
    return _tuple(shape)


# ---------------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------------

_TORCH_ACTIVATIONS = {
    "relu": "F.relu({x})",
    "leaky_relu": f"F.leaky_relu({{x}}, {LEAKY_RELU_SLOPE})",
    "gelu": "F.gelu({x})",
    "sigmoid": "torch.sigmoid({x})",
    "tanh": "torch.tanh({x})",
    "softmax": "torch.softmax({x}, dim=1)",
}


def _activate(expression: str, activation: str | None) -> str:
    return _TORCH_ACTIVATIONS[activation].format(x=expression) if activation else expression


def _window_padding(layer, size: tuple[int, int], window: tuple[int, int], stride: tuple[int, int]):
    """(left, right, top, bottom) zeros for Keras' "same" padding at this fixed picture size."""
    if layer.padding != "same":
        return (0, 0, 0, 0)
    top, bottom = same_padding(size[0], window[0], stride[0])
    left, right = same_padding(size[1], window[1], stride[1])
    return (left, right, top, bottom)


class _TorchWriter:
    """Collects the lines of __init__ and forward, one layer at a time."""

    def __init__(self, spec: ModelSpec, num_classes: int) -> None:
        self.spec = spec
        self.report = _checked(spec, num_classes)
        self.num_classes = num_classes
        self.head = head_index(spec.layers)
        self.init: list[str] = []
        self.forward: list[str] = []
        self.keras_init: list[str] = []
        self.frozen: list[str] = []
        self.penalties: list[str] = []
        self.needs_avg_pool_same = False
        self.needs_torchvision = False
        self.needs_weights_loader = False
        self.frozen_batch_norms = False

    def write(self) -> str:
        layers = self.spec.layers
        names = _identifiers(layers)
        for index in range(1, len(layers)):
            in_shape = self.report.layers[index - 1].output_shape
            out_shape = self.report.layers[index].output_shape
            self._layer(layers[index], names[index], index, in_shape, out_shape)
        return self._module_text()

    # -- one layer -------------------------------------------------------------------------
    def _layer(self, layer: Layer, name: str, index: int, in_shape: Shape, out_shape: Shape) -> None:
        in_head = self.head is not None and index >= self.head
        info = self.report.layers[index]
        comment = f"  # -> {_shape_text(out_shape)}" + (
            f", {info.params:,} parameters" if info.params else ""
        )
        attr = f"self.{name}"
        if isinstance(layer, Conv2D):
            self._conv(layer, attr, in_shape, comment)
        elif isinstance(layer, MaxPooling2D | AveragePooling2D):
            self._pool(layer, attr, in_shape, comment)
        elif isinstance(layer, GlobalAveragePooling2D):
            self.forward.append(f"x = x.mean(dim=(2, 3)){comment}")
        elif isinstance(layer, Flatten):
            self.init.append(f"{attr} = nn.Flatten()  # channel first: channel, then row, then column")
            self.forward.append(f"x = {attr}(x){comment}")
        elif isinstance(layer, Dense):
            units = "num_classes" if layer.units == "auto" else str(layer.units)
            self.init.append(f"{attr} = nn.Linear({in_shape[0]}, {units}){comment}")
            self.keras_init.append(attr)
            activation = None if in_head and layer.activation == "softmax" else layer.activation
            line = f"x = {_activate(f'{attr}(x)', activation)}"
            if in_head and layer.activation == "softmax":
                line += "  # class scores (logits): the loss applies the design's softmax"
            self.forward.append(line)
            self._penalty(layer, attr + ".weight")
        elif isinstance(layer, Dropout):
            self.init.append(f"{attr} = nn.Dropout({_num(layer.rate)})")
            self.forward.append(f"x = {attr}(x)")
        elif isinstance(layer, BatchNormalization):
            norm = "BatchNorm2d" if len(in_shape) == 3 else "BatchNorm1d"
            # Keras' momentum is the share of the running statistics kept; torch's is the share replaced.
            self.init.append(
                f"{attr} = nn.{norm}({in_shape[0]}, eps={_num(layer.epsilon)}, "
                f"momentum={_num(1 - layer.momentum)}){comment}"
            )
            self.forward.append(f"x = {attr}(x)")
            if not layer.trainable:
                self.frozen_batch_norms = True
        elif isinstance(layer, Activation):
            if in_head:
                self.forward.append("# (the design's final softmax is left out: the model returns logits)")
            else:
                self.forward.append(f"x = {_activate('x', layer.activation)}")
        elif isinstance(layer, Backbone):
            self._backbone(layer, attr, comment)
        else:  # a layer type added to the spec without code generation
            raise UserError(f"Code generation does not know the {layer.type} layer yet.")
        if not layer.trainable and info.params and not isinstance(layer, Backbone):
            self.frozen.append(f"{attr}.requires_grad_(False)")

    def _conv(self, layer: Conv2D, attr: str, in_shape: Shape, comment: str) -> None:
        kernel, stride = pair(layer.kernel_size), pair(layer.strides)
        left, right, top, bottom = _window_padding(layer, in_shape[1:], kernel, stride)
        args = [str(in_shape[0]), str(layer.filters), f"kernel_size={_pair_text(kernel)}"]
        if stride != (1, 1):
            args.append(f"stride={_pair_text(stride)}")
        symmetric = left == right and top == bottom
        if symmetric and (top or left):
            args.append(f"padding={_pair_text((top, left))}")
        self.init.append(f"{attr} = nn.Conv2d({', '.join(args)}){comment}")
        self.keras_init.append(attr)
        x = "x" if symmetric else f"F.pad(x, {_tuple((left, right, top, bottom))})"
        self.forward.append(f"x = {_activate(f'{attr}({x})', layer.activation)}")
        self._penalty(layer, attr + ".weight")

    def _pool(self, layer, attr: str, in_shape: Shape, comment: str) -> None:
        window = pair(layer.pool_size)
        stride = pair(layer.strides) if layer.strides is not None else window
        pads = _window_padding(layer, in_shape[1:], window, stride)
        left, right, top, bottom = pads
        args = [_pair_text(window)]
        if stride != window:
            args.append(f"stride={_pair_text(stride)}")
        fits_module = left == right and top == bottom and top <= window[0] // 2 and left <= window[1] // 2
        if isinstance(layer, MaxPooling2D):
            if fits_module and (top or left):
                args.append(f"padding={_pair_text((top, left))}")  # torch pads max pooling with -inf
            self.init.append(f"{attr} = nn.MaxPool2d({', '.join(args)}){comment}")
            x = "x" if fits_module else f'F.pad(x, {_tuple(pads)}, value=float("-inf"))'
            self.forward.append(f"x = {attr}({x})")
        elif fits_module:
            if top or left:
                # Keras' "same" average pooling averages only the real pixels of each window.
                args += [f"padding={_pair_text((top, left))}", "count_include_pad=False"]
            self.init.append(f"{attr} = nn.AvgPool2d({', '.join(args)}){comment}")
            self.forward.append(f"x = {attr}(x)")
        else:
            self.needs_avg_pool_same = True
            self.forward.append(
                f"x = average_pool_same(x, {_pair_text(window)}, {_pair_text(stride)}, {_tuple(pads)}){comment}"
            )

    def _backbone(self, layer: Backbone, attr: str, comment: str) -> None:
        info = BACKBONES[layer.arch]
        self.needs_torchvision = True
        head = "fc" if layer.arch == "resnet18" else "classifier"
        self.init.append(f"# {info.title} without its classifier: pictures in, {info.features} features out.")
        if layer.weights == "imagenet":
            self.init.append(
                f'{attr} = torchvision.models.{layer.arch}(weights="{TORCHVISION_WEIGHTS}"){comment}'
            )
            self.init.append(
                f"# (ImageNet weights: torchvision downloads {info.weights_file} into torch's cache once.)"
            )
            self.init.append(f"{attr}.{head} = nn.Identity()")
        else:
            self.init.append(f"{attr} = torchvision.models.{layer.arch}(weights=None){comment}")
            self.init.append(f"{attr}.{head} = nn.Identity()")
            if layer.weights == "random":
                self.init.append("# (random weights: the design does not use pre-trained ones)")
            else:
                self.needs_weights_loader = True
                self.init.append(f"{attr}.load_state_dict(backbone_weights({str(Path(layer.weights))!r}))")
        self.init.append(f"{attr}.requires_grad_(False)  # frozen: training leaves it as it is")
        if layer.trainable and layer.train_blocks > 0:
            blocks = info.blocks[len(info.blocks) - layer.train_blocks :]
            paths = [repr(path) for block in blocks for path in block]
            self.init.append(
                f"for path in {_tuple_names(paths)}:  # its last {layer.train_blocks} block(s) train"
            )
            self.init.append(f"    {attr}.get_submodule(path).requires_grad_(True)")
        self.frozen_batch_norms = True
        self.forward.append(f"x = {attr}(x)")

    def _penalty(self, layer: Conv2D | Dense, weight: str) -> None:
        if layer.l1:
            self.penalties.append(f"{_num(layer.l1)} * {weight}.abs().sum()")
        if layer.l2:
            self.penalties.append(f"{_num(layer.l2)} * {weight}.pow(2).sum()")

    # -- the whole file ----------------------------------------------------------------------
    def _module_text(self) -> str:
        spec = self.spec
        spec_input = spec.input
        imagenet = spec.has_backbone
        out: list[str] = [
            f'"""The model design "{spec.name}" as PyTorch code, written by CNN Studio.',
            "",
            f"Input: pictures of {spec_input.height}x{spec_input.width} pixels, "
            f"{'colour (3 channels)' if spec_input.channels == 3 else 'grey (1 channel)'}, as uint8 (N, C, H, W);",
            "preprocess() turns them into the model's input"
            + (" (x / 255, then ImageNet's mean and std)." if imagenet else " (x / 255)."),
            "Output: one score (logit) per class; torch.softmax(scores, dim=1) gives probabilities.",
            "Train with nn.CrossEntropyLoss() and torch.optim.Adam(model.parameters(), lr=1e-3)"
            + (", adding model.regularization_loss() to the loss." if self.penalties else "."),
            '"""',
            "",
            "import torch",
            "import torch.nn.functional as F",
        ]
        if self.needs_torchvision:
            out.append("import torchvision")
        out += ["from torch import nn", "", f"NUM_CLASSES = {self.num_classes}"]
        if imagenet:
            out += [f"MEAN = {_tuple_f(IMAGENET_MEAN)}", f"STD = {_tuple_f(IMAGENET_STD)}"]
        out += ["", ""]
        out += [
            "def preprocess(images: torch.Tensor) -> torch.Tensor:",
            f'    """uint8 pictures (N, {spec_input.channels}, {spec_input.height}, {spec_input.width}) '
            f'-> float input, as CNN Studio prepares them."""',
        ]
        if imagenet:
            out += [
                "    x = images.float() / 255",
                "    mean = torch.tensor(MEAN).view(-1, 1, 1)",
                "    std = torch.tensor(STD).view(-1, 1, 1)",
                "    return (x - mean) / std",
            ]
        else:
            out.append("    return images.float() / 255")
        out += ["", ""]
        if self.keras_init:
            out += [
                "def keras_init(layer: nn.Conv2d | nn.Linear) -> None:",
                '    """Keras\' default start, which CNN Studio uses: Glorot-uniform weights, zero biases."""',
                "    nn.init.xavier_uniform_(layer.weight)",
                "    nn.init.zeros_(layer.bias)",
                "",
                "",
            ]
        if self.needs_avg_pool_same:
            out += _AVG_POOL_SAME
        if self.needs_weights_loader:
            out += _WEIGHTS_LOADER
        out += [
            "class Model(nn.Module):",
            "    def __init__(self, num_classes: int = NUM_CLASSES) -> None:",
            "        super().__init__()",
        ]
        out += [f"        {line}" for line in self.init]
        if self.keras_init:
            out.append(f"        for layer in {_tuple_names(self.keras_init)}:")
            out.append("            keras_init(layer)")
        if self.frozen:
            out.append("        # Locked (frozen) layers: training leaves their weights as they are.")
            out += [f"        {line}" for line in self.frozen]
        out += ["", "    def forward(self, x: torch.Tensor) -> torch.Tensor:"]
        out += [f"        {line}" for line in self.forward]
        out.append("        return x")
        if self.frozen_batch_norms:
            out += _FROZEN_BN_TRAIN
        if self.penalties:
            out += [
                "",
                "    def regularization_loss(self) -> torch.Tensor:",
                '        """The design\'s L1/L2 penalties on the kernels (Keras\' kernel_regularizer): add to the loss."""',
                "        return " + " + ".join(self.penalties),
            ]
        sample = f"({2}, {spec_input.channels}, {spec_input.height}, {spec_input.width})"
        out += [
            "",
            "",
            "model = Model()",
            "",
            'if __name__ == "__main__":',
            f"    pictures = torch.randint(0, 256, {sample}, dtype=torch.uint8)",
            "    model.eval()",
            "    with torch.no_grad():",
            f"        print(model(preprocess(pictures)).shape)  # torch.Size([2, {self.num_classes}])",
            "    print(sum(p.numel() for p in model.parameters()), 'parameters')",
        ]
        return "\n".join(out) + "\n"


def _pair_text(value: tuple[int, int]) -> str:
    return str(value[0]) if value[0] == value[1] else _tuple(value)


def _tuple_names(names: list[str]) -> str:
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


def _tuple_f(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(_num(v) for v in values) + ")"


_AVG_POOL_SAME = [
    "def average_pool_same(x, window, stride, pads):",
    '    """Average pooling with Keras\' "same" padding: each window averages only its real pixels."""',
    "    sums = F.avg_pool2d(F.pad(x, pads), window, stride)",
    "    counts = F.avg_pool2d(F.pad(torch.ones_like(x[:1, :1]), pads), window, stride)",
    "    return sums / counts",
    "",
    "",
]

_WEIGHTS_LOADER = [
    "def backbone_weights(path: str) -> dict[str, torch.Tensor]:",
    '    """A torchvision weights file (.pth or .safetensors) without its classifier\'s weights."""',
    '    if path.endswith(".safetensors"):',
    "        from safetensors.torch import load_file",
    "",
    "        state = load_file(path)",
    "    else:",
    '        state = torch.load(path, map_location="cpu", weights_only=True)',
    '    for key in ("state_dict", "model_state_dict", "model"):',
    "        if isinstance(state.get(key), dict):",
    "            state = state[key]",
    '    state = {k.removeprefix("module."): v for k, v in state.items()}',
    '    return {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier."))}',
    "",
    "",
]

_FROZEN_BN_TRAIN = [
    "",
    '    def train(self, mode: bool = True) -> "Model":',
    '        """Frozen batch norms keep their running statistics while training, as in Keras."""',
    "        super().train(mode)",
    "        if mode:",
    "            for module in self.modules():",
    "                params = list(module.parameters(recurse=False))",
    "                frozen = params and not any(p.requires_grad for p in params)",
    "                if isinstance(module, nn.modules.batchnorm._BatchNorm) and frozen:",
    "                    module.eval()",
    "        return self",
]


def pytorch_code(spec: ModelSpec, num_classes: int) -> str:
    """Runnable Python: `class Model(nn.Module)`, `preprocess()` and `model = Model()`. It builds the
    model build_model() builds (same parameters, same outputs for the same weights) and downloads
    nothing unless the design asks for ImageNet weights that torch's cache lacks. UserError when
    the design does not work."""
    return _TorchWriter(spec, num_classes).write()


# ---------------------------------------------------------------------------------------------
# Keras
# ---------------------------------------------------------------------------------------------

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
