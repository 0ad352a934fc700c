"""ShapeReport: each layer's output shape and cost, the totals, and the first problem in plain words."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

Shape = tuple[int, ...]


@dataclass
class LayerInfo:
    """One row of the report. `index` is the layer's place in spec.layers (the Input is #0), so
    SpecModel.layers[index - 1] is its torch module."""

    index: int
    name: str
    type: str
    output_shape: Shape | None  # (channels, height, width) or (features,); None after an error
    params: int = 0
    trainable_params: int = 0
    flops: int = 0
    error: str | None = None
    note: str | None = None

    @property
    def frozen_params(self) -> int:
        return self.params - self.trainable_params

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["output_shape"] = list(self.output_shape) if self.output_shape is not None else None
        return data


@dataclass
class ShapeReport:
    """FLOPs are per image, a multiply-add counting 2 (see layers.py). `memory_bytes` is a rough
    estimate for one image: the weights plus every layer's output, as float32."""

    layers: list[LayerInfo]
    total_params: int = 0
    trainable_params: int = 0
    frozen_params: int = 0
    flops: int = 0
    memory_bytes: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # e.g. a backbone without its pre-trained weights
    num_classes: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def output_shape(self) -> Shape | None:
        return self.layers[-1].output_shape if self.layers and self.ok else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": [info.to_dict() for info in self.layers],
            "num_classes": self.num_classes,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "frozen_params": self.frozen_params,
            "flops": self.flops,
            "memory_bytes": self.memory_bytes,
            "error": self.error,
            "notes": list(self.notes),
        }

    def format_table(self) -> str:
        """A plain-text summary like Keras' model.summary()."""
        header = ("#", "layer", "output shape", "parameters", "FLOPs")
        rows = [
            (
                str(info.index),
                f"{info.name} ({info.type}{_frozen_label(info)})",
                format_shape(info.output_shape),
                f"{info.params:,}",
                format_count(info.flops),
            )
            for info in self.layers
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        aligns = ["<", "<", "<", ">", ">"]

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(
                f"{cell:{align}{width}}" for cell, align, width in zip(cells, aligns, widths, strict=True)
            )

        rule = "-" * len(line(header))
        out = [line(header), rule, *(line(row) for row in rows), rule]
        out.append(
            f"Parameters: {self.total_params:,} ({self.trainable_params:,} trainable, {self.frozen_params:,} frozen)"
        )
        out.append(f"FLOPs per image: {format_count(self.flops)}")
        out.append(f"Memory per image (weights + outputs, estimate): {format_bytes(self.memory_bytes)}")
        out.append(f"Classes: {self.num_classes}")
        out.extend(f"Note: {note}" for note in self.notes)
        if self.error:
            out.append(f"Problem: {self.error}")
        return "\n".join(out)


def _frozen_label(info: LayerInfo) -> str:
    if info.frozen_params == 0:
        return ""
    return ", frozen" if info.trainable_params == 0 else ", partly frozen"


def format_shape(shape: Shape | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join(str(size) for size in shape) + ")"


def format_count(count: int) -> str:
    """3_627_122_688 -> '3.63 G'; small numbers as they are."""
    for limit, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if count >= limit:
            return f"{count / limit:.3g} {suffix}"
    return str(count)


def format_bytes(size: int) -> str:
    if size < 2**20:
        return f"{size / 2**10:,.1f} KiB"
    return f"{size / 2**20:,.1f} MiB"
