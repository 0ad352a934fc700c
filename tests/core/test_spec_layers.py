"""Every layer type: config round trip, shape and parameter count (STYLE.md point 4)."""

from __future__ import annotations

import json

import pytest

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec import (
    CATEGORIES,
    LAYER_TYPES,
    Activation,
    AveragePooling2D,
    Backbone,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    Layer,
    MaxPooling2D,
)

# type -> (a layer with non-default settings, input shape, output shape, parameters, trainable ones)
EXAMPLES = {
    "Input": (Input(48, 40, 1, fit="pad", name="pictures"), None, (1, 48, 40), 0, 0),
    "Conv2D": (
        Conv2D(16, (3, 5), strides=2, activation="gelu", l2=1e-4),
        (3, 32, 32),
        (16, 15, 14),
        3 * 5 * 3 * 16 + 16,
        3 * 5 * 3 * 16 + 16,
    ),
    "MaxPooling2D": (MaxPooling2D(3, strides=2, padding="same"), (8, 15, 15), (8, 8, 8), 0, 0),
    "AveragePooling2D": (AveragePooling2D((2, 4)), (8, 16, 16), (8, 8, 4), 0, 0),
    "GlobalAveragePooling2D": (GlobalAveragePooling2D(), (64, 7, 7), (64,), 0, 0),
    "Flatten": (Flatten(), (4, 3, 5), (60,), 0, 0),
    "Dense": (Dense(32, activation="tanh", l1=0.01, trainable=False), (60,), (32,), 60 * 32 + 32, 0),
    "Dropout": (Dropout(0.3), (8, 4, 4), (8, 4, 4), 0, 0),
    "BatchNormalization": (BatchNormalization(momentum=0.99, epsilon=1e-5), (12, 9, 9), (12, 9, 9), 24, 24),
    "Activation": (Activation("leaky_relu"), (20,), (20,), 0, 0),
    "Backbone": (
        Backbone("mobilenet_v3_small", weights="random", train_blocks=2),
        (3, 96, 96),
        (576,),
        927_008,
        294_096 + 56_448,
    ),
}


def test_examples_cover_every_layer_type():
    assert set(EXAMPLES) == set(LAYER_TYPES)


@pytest.mark.parametrize("type_name", sorted(LAYER_TYPES))
def test_config_round_trip(type_name):
    layer = EXAMPLES[type_name][0]
    config = layer.to_config()
    assert config["type"] == type_name
    again = Layer.from_config(json.loads(json.dumps(config)))
    assert again == layer
    assert type(again).from_config(config) == layer
    default = LAYER_TYPES[type_name]()
    assert Layer.from_config(default.to_config()) == default


@pytest.mark.parametrize("type_name", sorted(LAYER_TYPES))
def test_shape_and_params(type_name):
    layer, input_shape, output_shape, params, trainable = EXAMPLES[type_name]
    result = layer.infer(input_shape, num_classes=5)
    assert (result.output_shape, result.params, result.trainable_params) == (output_shape, params, trainable)


@pytest.mark.parametrize("type_name", sorted(LAYER_TYPES))
def test_palette_information(type_name):
    cls = LAYER_TYPES[type_name]
    assert cls.category in CATEGORIES
    assert cls.description and "\n" not in cls.description and cls.description.endswith(".")
    assert cls().trainable is True and cls().name is None


def test_frozen_layer_has_no_trainable_params():
    assert Dense(32, trainable=False).infer((60,), 5).trainable_params == 0
    assert Conv2D(8, 3).infer((3, 8, 8), 5).trainable_params == 3 * 3 * 3 * 8 + 8


def test_auto_units_follow_the_classes():
    assert Dense("auto").infer((10,), num_classes=7).output_shape == (7,)


def test_pool_strides_default_to_the_pool_size():
    assert MaxPooling2D(3).infer((1, 9, 9), 2).output_shape == (1, 3, 3)


def test_replace_makes_a_new_layer():
    conv = Conv2D(32, 3)
    wider = conv.replace(filters=64)
    assert (conv.filters, wider.filters) == (32, 64)


def test_unknown_type_and_setting_are_user_errors():
    with pytest.raises(UserError, match="Unknown layer type 'Conv3D'.*Conv2D"):
        Layer.from_config({"type": "Conv3D"})
    with pytest.raises(UserError, match="Conv2D has no setting 'fliters'"):
        Layer.from_config({"type": "Conv2D", "fliters": 3})
    with pytest.raises(UserError, match="not a Dense layer"):
        Dense.from_config({"type": "Conv2D"})
