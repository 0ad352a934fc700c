"""What the PyTorch and Keras writers share: the design check and how numbers are written."""

from __future__ import annotations

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec.infer import infer_shapes
from cnnstudio.core.spec.model_spec import ModelSpec
from cnnstudio.core.spec.report import ShapeReport


def checked_report(spec: ModelSpec, num_classes: int) -> ShapeReport:
    """The design's shapes; UserError when the design does not work yet."""
    report = infer_shapes(spec, num_classes)
    if report.error is not None:
        raise UserError(f"This design cannot be written as code until it works: {report.error}")
    return report


def number_text(value: float) -> str:
    """A float as short as it is exact enough: 0.1, not 0.09999999999999998."""
    return repr(round(float(value), 10))


def tuple_text(values: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(v) for v in values) + ("," if len(values) == 1 else "") + ")"
