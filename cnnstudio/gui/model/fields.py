"""What the property editor shows for each layer type: the settings, their editors, their words.

Plain data and parsing (no Qt), so the rules for reading a typed value are testable on their own.
A `Field` names a setting of the layer spec (a dataclass field), how it is edited, and a help line.
`parse()` turns typed text into the setting's value or raises ValueError in plain words; the
layer's own `check()` then judges the value (one source of truth for the ranges).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cnnstudio.core.spec import BACKBONES

# Editor kinds
INT = "int"  # spin box
FLOAT = "float"  # spin box with decimals
CHOICE = "choice"  # combo box of (value, label)
SIZE = "size"  # text: "3" or "3x5"; empty allowed when `optional`
NUMBER = "number"  # text: a decimal number such as 0.0001 or 1e-4
UNITS = "units"  # editable combo: "auto" or a whole number
WEIGHTS = "weights"  # combo: imagenet / random / a file, with "Load weights from file…"
NAME = "name"  # text: the layer's own name (optional)

ACTIVATION_CHOICES: tuple[tuple[Any, str], ...] = (
    (None, "none"),
    ("relu", "relu (the usual choice)"),
    ("leaky_relu", "leaky_relu (negatives shrink)"),
    ("gelu", "gelu (smooth relu)"),
    ("sigmoid", "sigmoid (0 to 1)"),
    ("tanh", "tanh (-1 to 1)"),
    ("softmax", "softmax (scores to probabilities)"),
)
PADDING_CHOICES = (
    ("valid", "valid: no border (shrinks)"),
    ("same", "same: zero border (same size)"),
)
FIT_CHOICES = (
    ("stretch", "stretch to the size"),
    ("crop", "crop the middle"),
    ("pad", "add borders"),
)
CHANNEL_CHOICES = ((3, "colour (3 channels)"), (1, "grey (1 channel)"))


@dataclass(frozen=True)
class Field:
    name: str  # the layer spec's setting
    label: str
    kind: str
    help: str = ""
    minimum: float = 0
    maximum: float = 0
    step: float = 1
    decimals: int = 0
    choices: tuple[tuple[Any, str], ...] = ()
    optional: bool = False  # SIZE: empty text means None
    placeholder: str = ""


def _size(name: str, label: str, help: str, optional: bool = False, placeholder: str = "") -> Field:
    return Field(name, label, SIZE, help, optional=optional, placeholder=placeholder)


PADDING = Field(  # Conv2D's and the pooling layers' (a Field is frozen, so one serves both)
    "padding",
    "Padding",
    CHOICE,
    "What happens at the picture's edge: valid adds no border, so each filter shrinks the picture; "
    "same adds a border of zeros, so the size stays.",
    choices=PADDING_CHOICES,
)


def _regularisers() -> list[Field]:
    return [
        Field(
            "l1",
            "L1 penalty",
            NUMBER,
            "Pushes weights to exactly 0; 0 is off, 0.0001 is mild.",
            placeholder="0",
        ),
        Field(
            "l2",
            "L2 penalty",
            NUMBER,
            "Keeps weights small against over-fitting; 0 is off, 0.0001 is mild.",
            placeholder="0",
        ),
    ]


def _pooling() -> list[Field]:
    return [
        _size("pool_size", "Pool size", "The square each output summarises: 2 halves the size."),
        _size(
            "strides",
            "Step",
            "How far the window moves; empty means the pool size (no overlap).",
            optional=True,
            placeholder="same as the pool size",
        ),
        PADDING,
    ]


FIELDS: dict[str, list[Field]] = {
    "Input": [
        Field("height", "Height", INT, "Pictures are resized to this many pixels high.", 8, 2048),
        Field("width", "Width", INT, "Pictures are resized to this many pixels wide.", 8, 2048),
        Field(
            "channels",
            "Colour",
            CHOICE,
            "Grey pictures train faster when colour does not matter.",
            choices=CHANNEL_CHOICES,
        ),
        Field("fit", "Fit", CHOICE, "How a picture of another shape is made to fit.", choices=FIT_CHOICES),
    ],
    "Conv2D": [
        Field(
            "filters",
            "Filters",
            INT,
            "How many patterns this layer learns; each makes one output channel.",
            1,
            4096,
        ),
        _size(
            "kernel_size",
            "Filter size",
            "Pixels each filter looks at: 3 (3x3) is usual, or 5x3 for 5 high, 3 wide.",
        ),
        _size("strides", "Step", "How far each filter moves: 2 halves the picture's size."),
        PADDING,
        Field(
            "activation",
            "Activation",
            CHOICE,
            "Applied to each output; relu (negatives become 0) is the usual choice.",
            choices=ACTIVATION_CHOICES,
        ),
        *_regularisers(),
    ],
    "MaxPooling2D": _pooling(),
    "AveragePooling2D": _pooling(),
    "GlobalAveragePooling2D": [],
    "Flatten": [],
    "Dense": [
        Field(
            "units",
            "Outputs",
            UNITS,
            "How many numbers come out. 'auto' gives one per class (for the last layer).",
            1,
            1_000_000,
        ),
        Field(
            "activation",
            "Activation",
            CHOICE,
            "The last layer uses softmax (or none); others relu.",
            choices=ACTIVATION_CHOICES,
        ),
        *_regularisers(),
    ],
    "Dropout": [
        Field(
            "rate",
            "Rate",
            FLOAT,
            "The share switched off while training: 0.2 to 0.5 is usual.",
            0,
            0.95,
            0.05,
            2,
        ),
    ],
    "BatchNormalization": [
        Field(
            "momentum",
            "Momentum",
            FLOAT,
            "How slowly the running statistics move: 0.9 is usual.",
            0,
            0.999,
            0.01,
            3,
        ),
        Field(
            "epsilon",
            "Epsilon",
            NUMBER,
            "A small number that avoids dividing by zero: 0.001 is usual.",
            placeholder="0.001",
        ),
    ],
    "Activation": [
        Field(
            "activation",
            "Function",
            CHOICE,
            "The function applied to every number.",
            choices=ACTIVATION_CHOICES[1:],
        ),
    ],
    "Backbone": [
        Field(
            "arch",
            "Network",
            CHOICE,
            "Which pre-trained network reads the pictures.",
            choices=tuple((arch, info.title) for arch, info in BACKBONES.items()),
        ),
        Field("weights", "Weights", WEIGHTS, "Pre-trained weights make it accurate with few pictures."),
        Field(
            "train_blocks",
            "Blocks to train",
            INT,
            "0 keeps it frozen (fast, best with few pictures); more blocks adapt it to your pictures.",
            0,
            20,
        ),
    ],
}
NAME_FIELD = Field("name", "Name", NAME, "Optional: your own name for this layer.", placeholder="")


def fields_for(type_name: str) -> list[Field]:
    return FIELDS.get(type_name, [])


_SIZE_RE = re.compile(r"^\s*(\d+)\s*(?:[x×,*]\s*(\d+)\s*)?$", re.IGNORECASE)


def parse_size(text: str, optional: bool = False) -> int | tuple[int, int] | None:
    """ "3" -> 3, "5x3" or "5, 3" -> (5, 3), "3x3" -> 3; "" -> None when optional."""
    if not text.strip():
        if optional:
            return None
        raise ValueError("Type a size such as 3, or 5x3 for 5 high and 3 wide.")
    match = _SIZE_RE.match(text)
    if match is None:
        raise ValueError(f"'{text.strip()}' is not a size: type a whole number such as 3, or 5x3.")
    first = int(match.group(1))
    second = int(match.group(2)) if match.group(2) else first
    if first < 1 or second < 1:
        raise ValueError("A size must be at least 1.")
    return first if first == second else (first, second)


def format_size(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple | list):
        return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"
    return str(value)


def parse_number(text: str) -> float:
    """A decimal number as typed: 0.0001, 1e-4, ",5" in locales with decimal commas."""
    cleaned = text.strip().replace(",", ".")
    if not cleaned:
        return 0.0
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"'{text.strip()}' is not a number: type one such as 0.0001.") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("Type an ordinary number such as 0.0001.")
    return value


def format_number(value: Any) -> str:
    return f"{float(value):g}"


def parse_units(text: str) -> int | str:
    cleaned = text.strip().lower()
    if cleaned.startswith("auto"):
        return "auto"
    try:
        return int(cleaned.replace(",", "").replace("_", ""))
    except ValueError:
        raise ValueError(
            f"'{text.strip()}' is not a number of outputs: type a whole number or 'auto'."
        ) from None


def parse_name(text: str, others: list[str]) -> str | None:
    """None for an empty name (Keras' default names are used); ValueError for one taken already."""
    name = text.strip()
    if not name:
        return None
    if name in others:
        raise ValueError(f"Another layer is called '{name}' already; choose another name.")
    return name
