"""Pure shape math, as Keras computes it (STYLE.md point 3). No torch here.

Each helper raises ValueError with the numbers and a fix in plain words; `infer_shapes` puts the
layer's name and number in front ("Conv2D #3: ...").
"""

from __future__ import annotations

import math

Size = tuple[int, int]


def pair(value: int | tuple[int, int] | list[int]) -> Size:
    """A kernel, stride or pool size given as one number or as (height, width)."""
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))


def describe_pair(value: Size) -> str:
    return f"{value[0]}x{value[1]}"


def _window_output(size: Size, window: Size, stride: Size, padding: str, what: str) -> Size:
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same' (it is {padding!r})")
    if padding == "same":
        # Keras "same": zeros (or, for max pooling, nothing) are added around the picture so that
        # only the stride shrinks it.
        return (math.ceil(size[0] / stride[0]), math.ceil(size[1] / stride[1]))
    if window[0] > size[0] or window[1] > size[1]:
        raise ValueError(
            f"this {describe_pair(window)} {what} no longer fits: the picture is {describe_pair(size)} here. "
            "Remove a pooling layer or use 'same' padding."
        )
    return ((size[0] - window[0]) // stride[0] + 1, (size[1] - window[1]) // stride[1] + 1)


def conv2d_output_shape(
    size: Size, kernel: int | Size, stride: int | Size = 1, padding: str = "valid"
) -> Size:
    """(height, width) after a 2-D convolution, e.g. conv2d_output_shape((64, 64), 3) == (62, 62)."""
    return _window_output(size, pair(kernel), pair(stride), padding, "filter")


def pool2d_output_shape(
    size: Size, pool: int | Size, stride: int | Size | None = None, padding: str = "valid"
) -> Size:
    """(height, width) after max or average pooling; the stride defaults to the pool size, as in Keras."""
    pool = pair(pool)
    return _window_output(size, pool, pair(stride) if stride is not None else pool, padding, "pooling window")


def same_padding(size: int, window: int, stride: int) -> tuple[int, int]:
    """Zeros to add before and after one axis for Keras' "same" padding.

    When the total is odd, the extra one goes after (right or bottom), as TensorFlow does; PyTorch's
    own padding="same" only supports stride 1, so the builder pads with this.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + window - size, 0)
    return (total // 2, total - total // 2)
