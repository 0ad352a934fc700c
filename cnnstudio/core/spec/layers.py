"""The layer specs, with Keras' names and settings. Pure data and shape math: no torch.

Counting conventions (the builder's torch model has exactly these parameter counts):
- Parameters are what training can change. BatchNormalization has 2 per channel (scale and
  shift); its running mean and variance, which Keras lists as non-trainable parameters, are not
  counted (torch keeps them as buffers).
- FLOPs per image: a multiply-add counts 2 in Conv2D and Dense (the bias add is folded into it);
  pooling, normalisation and activations count one operation per number they read or write.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnstudio.core.spec.layer_base import (
    ACTIVATIONS,
    Layer,
    LayerShape,
    Shape,
    check_choice,
    check_pair,
    check_penalty,
    check_whole,
    need_flat,
    need_picture,
    numel,
    register,
)
from cnnstudio.core.spec.shapes import conv2d_output_shape, pair, pool2d_output_shape

FITS = ("stretch", "crop", "pad")
PADDINGS = ("valid", "same")


@register
@dataclass(frozen=True)
class Input(Layer):
    """The picture's size and colour; `fit` says how a picture of another shape is made to fit:
    "stretch" resizes it, "crop" cuts the middle out, "pad" adds borders."""

    type = "Input"
    category = "Core"
    description = "The picture as the model sees it: its size in pixels, and colour (3 channels) or grey (1)."

    height: int = 64
    width: int = 64
    channels: int = 3
    fit: str = "stretch"

    def check(self) -> None:
        check_whole("height", self.height)
        check_whole("width", self.width)
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise ValueError(f"channels must be 3 (colour) or 1 (grey) (it is {self.channels!r}).")
        check_choice("fit", self.fit, FITS)

    def infer(self, input_shape: Shape | None, num_classes: int) -> LayerShape:
        shape = (self.channels, self.height, self.width)
        return LayerShape(shape, activations=numel(shape))


@register
@dataclass(frozen=True)
class Conv2D(Layer):
    """`l1`/`l2` add l1*sum|w| + l2*sum(w**2) of the filters (not the biases) to the loss, as Keras'
    kernel_regularizer does."""

    type = "Conv2D"
    category = "Convolution"
    description = (
        "A convolution slides small filters over the picture; each filter learns to light up on one "
        "pattern, such as an edge, a colour or a texture."
    )

    filters: int = 32
    kernel_size: int | tuple[int, int] = 3
    strides: int | tuple[int, int] = 1
    padding: str = "valid"
    activation: str | None = None
    l1: float = 0.0
    l2: float = 0.0

    def check(self) -> None:
        check_whole("filters", self.filters)
        check_pair("kernel_size", self.kernel_size)
        check_pair("strides", self.strides)
        check_choice("padding", self.padding, PADDINGS)
        check_choice("activation", self.activation, (None, *ACTIVATIONS))
        check_penalty("l1", self.l1)
        check_penalty("l2", self.l2)

    def infer(self, input_shape: Shape | None, num_classes: int) -> LayerShape:
        channels, height, width = need_picture(input_shape)
        out_h, out_w = conv2d_output_shape((height, width), self.kernel_size, self.strides, self.padding)
        kh, kw = pair(self.kernel_size)
        params = kh * kw * channels * self.filters + self.filters
        shape = (self.filters, out_h, out_w)
        flops = 2 * kh * kw * channels * self.filters * out_h * out_w
        if self.activation:
            flops += numel(shape)
        return LayerShape(shape, params, self.frozen(params), flops, numel(shape))


@dataclass(frozen=True)
class _Pooling2D(Layer):
    category = "Pooling"

    pool_size: int | tuple[int, int] = 2
    strides: int | tuple[int, int] | None = None  # None: the pool size, as in Keras
    padding: str = "valid"

    def check(self) -> None:
        check_pair("pool_size", self.pool_size)
        if self.strides is not None:
            check_pair("strides", self.strides)
        check_choice("padding", self.padding, PADDINGS)

    def infer(self, input_shape: Shape | None, num_classes: int) -> LayerShape:
        channels, height, width = need_picture(input_shape)
        out_h, out_w = pool2d_output_shape((height, width), self.pool_size, self.strides, self.padding)
        ph, pw = pair(self.pool_size)
        shape = (channels, out_h, out_w)
        return LayerShape(shape, flops=numel(shape) * ph * pw, activations=numel(shape))


@register
@dataclass(frozen=True)
class MaxPooling2D(_Pooling2D):
    type = "MaxPooling2D"
    description = "Max pooling halves the picture's size, keeping the strongest signal in each 2x2 square."


@register
@dataclass(frozen=True)
class AveragePooling2D(_Pooling2D):
    type = "AveragePooling2D"
    description = "Average pooling halves the picture's size, keeping the average of each 2x2 square."


@register
@dataclass(frozen=True)
class GlobalAveragePooling2D(Layer):
    type = "GlobalAveragePooling2D"
    category = "Pooling"
    description = (
        "Averages each feature map down to one number, giving a short list of features whatever the "
        "picture's size."
    )

    def infer(self, input_shape: Shape | None, num_classes: int) -> LayerShape:
        channels, height, width = need_picture(input_shape)
        return LayerShape((channels,), flops=channels * height * width, activations=channels)


@register
@dataclass(frozen=True)
class Flatten(Layer):
    """Flattens in channel-first order (channel, then row, then column), as torch does; Keras'
    default order is row, column, channel. The code export accounts for the difference."""

    type = "Flatten"
    category = "Core"
    description = "Lays the feature maps out as one long list of numbers, so that Dense layers can read them."

    def infer(self, input_shape: Shape | None, num_classes: int) -> LayerShape:
        if input_shape is None:
            raise ValueError("this layer has no input.")
        size = numel(input_shape)
        return LayerShape((size,))


@register
@dataclass(frozen=True)
class Dense(Layer):
    """`units="auto"` means one output per class. On the last Dense layer a softmax activation is
    allowed and omitted from the built model, which returns logits (the loss applies the softmax)."""

    type = "Dense"
    category = "Core"
    description = (
        "Each output is a weighted sum of all the inputs; the last Dense layer gives one score per class."
    )

    units: int | str = 128
    activation: str | None = None
    l1: float = 0.0
    l2: float = 0.0

    def check(self) -> None:
        if self.units != "auto":
            if isinstance(self.units, str):
                raise ValueError(f"units must be a whole number or 'auto' (it is {self.units!r}).")
            check_whole("units", self.units)
        check_choice("activation", self.activation, (None, *ACTIVATIONS))
        check_penalty("l1", self.l1)
        check_penalty("l2", self.l2)

    def resolved_units(self, num_classes: int) -> int:
        return num_classes if self.units == "auto" else int(self.units)

    def infer(self, input_shape: Shape | None, num_classes: int) -> LayerShape:
        (features,) = need_flat(input_shape)
        units = self.resolved_units(num_classes)
        params = features * units + units
        flops = 2 * features * units + (units if self.activation else 0)
        return LayerShape((units,), params, self.frozen(params), flops, units)


@register
@dataclass(frozen=True)
class Dropout(Layer):
    type = "Dropout"
    category = "Regularisation"
    description = (
        "While training, switches off a random share of the numbers so the model cannot lean on any "
        "single one; this fights over-fitting."
    )

    rate: float = 0.5

    def check(self) -> None:
        if isinstance(self.rate, bool) or not isinstance(self.rate, int | float) or not 0 <= self.rate < 1:
            raise ValueError(
                f"rate must be at least 0 and below 1 (it is {self.rate!r}); 0.2 to 0.5 is usual."
            )

    def infer(self, input_shape: Shape | None, num_classes: int) -> LayerShape:
        if input_shape is None:
            raise ValueError("this layer has no input.")
        return LayerShape(input_shape)


@register
@dataclass(frozen=True)
class BatchNormalization(Layer):
    """`momentum` has Keras' meaning (the share of the running statistics kept at each batch), but
    defaults to 0.9 rather than Keras' 0.99: short runs on small datasets otherwise validate with
    statistics that have not settled. `trainable=False` also fixes the running statistics
    (inference mode while training), as in Keras."""

    type = "BatchNormalization"
    category = "Regularisation"
    description = (
        "Keeps the numbers flowing through the model at a steady scale, which makes training faster and "
        "more stable."
    )

    momentum: float = 0.9
    epsilon: float = 1e-3

    def check(self) -> None:
        if (
            isinstance(self.momentum, bool)
            or not isinstance(self.momentum, int | float)
            or not 0 <= self.momentum < 1
        ):
            raise ValueError(
                f"momentum must be at least 0 and below 1 (it is {self.momentum!r}); 0.9 is usual."
            )
        if isinstance(self.epsilon, bool) or not isinstance(self.epsilon, int | float) or self.epsilon <= 0:
            raise ValueError(
                f"epsilon must be a small positive number such as 0.001 (it is {self.epsilon!r})."
            )

    def infer(self, input_shape: Shape | None, num_classes: int) -> LayerShape:
        if input_shape is None:
            raise ValueError("this layer has no input.")
        params = 2 * input_shape[0]
        return LayerShape(
            input_shape, params, self.frozen(params), 2 * numel(input_shape), numel(input_shape)
        )


@register
@dataclass(frozen=True)
class Activation(Layer):
    """leaky_relu uses Keras' slope of 0.2 for negatives; gelu is the exact (not tanh) form; softmax
    works across the channels (or features)."""

    type = "Activation"
    category = "Core"
    description = (
        "Bends the numbers with a fixed function (ReLU turns negatives into zero) so the model can learn "
        "more than straight lines."
    )

    activation: str = "relu"

    def check(self) -> None:
        check_choice("activation", self.activation, ACTIVATIONS)

    def infer(self, input_shape: Shape | None, num_classes: int) -> LayerShape:
        if input_shape is None:
            raise ValueError("this layer has no input.")
        return LayerShape(input_shape, flops=numel(input_shape), activations=numel(input_shape))
