"""The PyTorch writer: a self-contained `nn.Module` that is the model CNN Studio builds.

See the package's docstring. Pure text generation: importing this module does not import torch.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec.backbones import BACKBONES, Backbone
from cnnstudio.core.spec.codegen.common import checked_report as _checked
from cnnstudio.core.spec.codegen.common import number_text as _num
from cnnstudio.core.spec.codegen.common import tuple_text as _tuple
from cnnstudio.core.spec.infer import display_names, head_index
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
LEAKY_RELU_SLOPE = 0.2
# Attribute names an nn.Module already uses: a layer called "train" must not hide Module.train().
_RESERVED = {
    "training", "forward", "train", "eval", "parameters", "modules", "children", "state_dict", "to",
    "cpu", "cuda", "float", "half", "double", "type", "apply", "zero_grad", "backbone_weights",
    "regularization_loss", "register_buffer", "buffers", "named_modules", "requires_grad_",
}  # fmt: skip


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


def _shape_text(shape: Shape) -> str:
    return _tuple(shape)


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
