"""One awkward model design for the spec tests (builder, shapes of the code it writes, Keras code):
every layer type but GlobalAveragePooling2D and Backbone, with the settings that go wrong first:
odd picture sizes, "same" padding with strides and stride-1 pooling, even and non-square kernels,
a locked 2-D batch norm and a trainable 1-D one, L1 and L2 penalties, a frozen convolution, a
named layer, every activation, and a separate final softmax."""

from __future__ import annotations

from cnnstudio.core.spec import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
    ModelSpec,
)

AWKWARD = ModelSpec(
    [
        Input(37, 29, 1),
        Conv2D(8, (4, 3), strides=2, padding="same", activation="leaky_relu", l2=1e-4),
        BatchNormalization(trainable=False),
        MaxPooling2D(3, strides=2, padding="same"),
        Conv2D(6, 2, padding="same", activation="gelu"),
        AveragePooling2D(2, padding="same"),
        AveragePooling2D(3, strides=1, padding="same"),
        MaxPooling2D(2, strides=1, padding="same"),
        Activation("tanh"),
        Dropout(0.1),
        Conv2D(8, 3, padding="valid", activation="sigmoid", trainable=False),
        AveragePooling2D((1, 2)),
        Flatten(),
        BatchNormalization(),
        Dense(16, activation="relu", l1=1e-3, name="hidden"),
        Dropout(0.1),
        Activation("softmax"),
        Dense(7, activation="tanh"),
        Dense("auto"),
        Activation("softmax"),
    ],
    name="awkward",
)
