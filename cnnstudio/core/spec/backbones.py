"""Pre-trained torchvision backbones: what each one is, as plain numbers, and the Backbone layer spec.

The numbers (features, parameters per block, FLOPs and activations at 224x224) are a table so that
shape inference never imports torch; tests/core/test_spec_backbones.py builds each torchvision
model and checks every number, so the table cannot drift from torchvision.

Weights are never downloaded here: "imagenet" means the weights imported with `cnnstudio weights
import` (kept in the app's own folder with their provenance, core/weights/store.py) when there are
some, else torchvision's own weights file in torch's cache folder (put there by `cnnstudio weights
get`, by torchvision, or copied by hand) or in the `weights` folder bundled with the standalone app,
trusted only when its SHA-256 matches its name; a path means a file the user picked. Without any,
the backbone starts from random weights and the shape report says so.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cnnstudio.core.spec.layer_base import Layer, LayerShape, Shape, check_choice, register
from cnnstudio.core.weights import store

WEIGHT_CHOICES = ("imagenet", "random")  # or the path of a weights file
MIN_BACKBONE_SIZE = 32  # all three shrink the picture 32 times
NO_WEIGHTS_NOTE = (
    "No pre-trained weights on this computer: random weights, so training will not learn well "
    "(get them with 'Get the pre-trained weights' or `cnnstudio weights get`)"
)


@dataclass(frozen=True)
class BackboneInfo:
    arch: str  # torchvision's function name
    title: str
    features: int  # numbers out of the backbone (after global average pooling)
    blocks: tuple[tuple[str, ...], ...]  # module paths of each block, first to last
    block_params: tuple[int, ...]  # parameters in each block
    weights_file: str  # the file name torchvision's ImageNet weights have in torch's cache
    flops_224: int  # per 224x224 image, multiply-adds x2 of the convolutions
    activations_224: int  # numbers out of every leaf module per 224x224 image

    @property
    def params(self) -> int:
        return sum(self.block_params)

    def trainable_params(self, train_blocks: int) -> int:
        """Parameters in the last `train_blocks` blocks."""
        return sum(self.block_params[len(self.block_params) - train_blocks :]) if train_blocks > 0 else 0


BACKBONES: dict[str, BackboneInfo] = {
    "resnet18": BackboneInfo(
        arch="resnet18",
        title="ResNet-18",
        features=512,
        # The stem (first convolution and its batch norm) is block 1, then layer1..layer4.
        blocks=(("conv1", "bn1"), ("layer1",), ("layer2",), ("layer3",), ("layer4",)),
        block_params=(9_536, 147_968, 525_568, 2_099_712, 8_393_728),
        weights_file="resnet18-f37072fd.pth",
        flops_224=3_627_122_688,
        activations_224=7_477_248,
    ),
    "mobilenet_v3_small": BackboneInfo(
        arch="mobilenet_v3_small",
        title="MobileNetV3 Small",
        features=576,
        blocks=tuple((f"features.{i}",) for i in range(13)),
        block_params=(
            464,
            744,
            3_864,
            5_416,
            13_736,
            57_264,
            57_264,
            21_968,
            29_800,
            91_848,
            294_096,
            294_096,
            56_448,
        ),
        weights_file="mobilenet_v3_small-047dcff4.pth",
        flops_224=109_793_152,
        activations_224=4_103_272,
    ),
    "efficientnet_b0": BackboneInfo(
        arch="efficientnet_b0",
        title="EfficientNet-B0",
        features=1280,
        blocks=tuple((f"features.{i}",) for i in range(9)),
        block_params=(928, 1_448, 16_714, 46_640, 242_930, 543_148, 2_026_348, 717_232, 412_160),
        weights_file="efficientnet_b0_rwightman-7f5810bc.pth",
        flops_224=769_069_504,
        activations_224=19_873_240,
    ),
}


def torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch (torch's own answer when it is loaded)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return Path(torch.hub.get_dir())
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))) / "hub"


def imagenet_weights_path(arch: str) -> Path:
    """Where torchvision keeps (or would download) the ImageNet weights of `arch`."""
    return torch_hub_dir() / "checkpoints" / BACKBONES[arch].weights_file


def bundled_weights_dir() -> Path | None:
    """The `weights` folder a standalone app carries (PyInstaller: sys._MEIPASS, or next to the
    executable), where `make package` copies the files present on the building computer."""
    if not getattr(sys, "frozen", False):
        return None
    for base in (getattr(sys, "_MEIPASS", None), os.path.dirname(sys.executable)):
        if base and (Path(base) / "weights").is_dir():
            return Path(base) / "weights"
    return None


def official_weights_available(arch: str) -> Path | None:
    """torchvision's official ImageNet file of `arch` when it is on this computer and its SHA-256
    matches its name (torch's hub folder first, then the app's bundled folder), else None."""
    if arch not in BACKBONES:
        return None
    candidates = [imagenet_weights_path(arch)]
    bundled = bundled_weights_dir()
    if bundled is not None:
        candidates.append(bundled / BACKBONES[arch].weights_file)
    for path in candidates:
        if path.is_file() and store.is_official(path):
            return path
    return None


def backbone_weights_available(arch: str) -> Path | None:
    """The file the "imagenet" weights of `arch` come from: the imported one (the user's choice)
    when there is one, else the checked official file, else None. Never downloads."""
    if arch not in BACKBONES:
        return None
    if store.imported(arch) is not None:
        return store.imported_path(arch)
    return official_weights_available(arch)


def weights_origin(arch: str) -> str:
    """In words, what the "imagenet" weights of `arch` are on this computer."""
    record = store.imported(arch) if arch in BACKBONES else None
    if record is not None:
        return record.describe()
    return "pre-trained on ImageNet" if official_weights_available(arch) is not None else "random weights"


@register
@dataclass(frozen=True)
class Backbone(Layer):
    """A torchvision classifier without its last layer; it gives pooled features (F,) so a Dense
    layer can follow directly. Frozen but for its last `train_blocks` blocks (0: all frozen);
    `trainable=False` freezes it all. Frozen batch norms keep their running statistics while
    training (see SpecModel.train)."""

    type = "Backbone"
    category = "Pre-trained"
    description = (
        "A network already trained on a million photos (ImageNet); it turns a picture into features "
        "your classes can be learnt from quickly, even with few pictures."
    )

    arch: str = "resnet18"
    weights: str = "imagenet"  # "imagenet", "random", or the path of a .pth / .safetensors file
    train_blocks: int = 0

    @property
    def info(self) -> BackboneInfo:
        return BACKBONES[self.arch]

    @property
    def weights_path(self) -> Path | None:
        """The file the weights come from: the picked file; for "imagenet" the imported file or the
        checked official one (see backbone_weights_available); or None."""
        if self.weights == "random":
            return None
        if self.weights == "imagenet":
            return backbone_weights_available(self.arch)
        return Path(self.weights).expanduser()

    def check(self) -> None:
        check_choice("arch", self.arch, tuple(BACKBONES))
        if not isinstance(self.weights, str) or not self.weights:
            raise ValueError("weights must be 'imagenet', 'random' or the path of a weights file.")
        if self.weights not in WEIGHT_CHOICES and not Path(self.weights).expanduser().is_file():
            raise ValueError(
                f"the weights file {self.weights} is not there any more; "
                "pick it again, or choose 'imagenet' or 'random'."
            )
        blocks = len(self.info.blocks)
        if isinstance(self.train_blocks, bool) or not isinstance(self.train_blocks, int):
            raise ValueError(
                f"train_blocks must be a whole number from 0 to {blocks} (it is {self.train_blocks!r})."
            )
        if not 0 <= self.train_blocks <= blocks:
            raise ValueError(
                f"{self.info.title} has {blocks} blocks, so train_blocks must be from 0 (all frozen) "
                f"to {blocks} (all trained); it is {self.train_blocks}."
            )

    def infer(self, input_shape: Shape | None, num_classes: int) -> LayerShape:
        info = self.info
        if input_shape is None or len(input_shape) != 3:
            raise ValueError("a pre-trained backbone must come right after the Input.")
        channels, height, width = input_shape
        if channels != 3:
            raise ValueError(
                f"{info.title} was trained on colour pictures: set the Input's channels to 3 "
                "(grey pictures are turned into colour ones)."
            )
        if height < MIN_BACKBONE_SIZE or width < MIN_BACKBONE_SIZE:
            raise ValueError(
                f"{info.title} shrinks the picture 32 times, so it needs at least "
                f"{MIN_BACKBONE_SIZE}x{MIN_BACKBONE_SIZE} pixels; the Input is {height}x{width}."
            )
        # FLOPs and activations grow with the picture's area (checked against torch at other sizes).
        area = height * width / (224 * 224)
        note = NO_WEIGHTS_NOTE if self.weights == "imagenet" and self.weights_path is None else None
        trainable = info.trainable_params(self.train_blocks) if self.trainable else 0
        return LayerShape(
            (info.features,),
            info.params,
            trainable,
            round(info.flops_224 * area),
            round(info.activations_224 * area) + info.features,
            note,
        )
