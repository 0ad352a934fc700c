"""ModelSpec as saved data: JSON round trip, versions and migration, preprocessing, templates."""

from __future__ import annotations

import json

import pytest
import torch

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec import (
    SCHEMA_VERSION,
    TEMPLATES,
    Backbone,
    Conv2D,
    Dense,
    Flatten,
    Input,
    ModelSpec,
    Preprocessing,
    infer_shapes,
    migrate,
    template,
)


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_every_template_round_trips_through_json(name):
    spec = template(name)
    text = spec.to_json()
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION
    again = ModelSpec.from_json(text)
    assert again == spec and again.name == name
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert infer_shapes(spec, 10).ok


def test_templates_have_titles_and_plain_descriptions():
    assert list(TEMPLATES) == [
        "seed",
        "tiny",
        "small-vgg",
        "resnet18",
        "mobilenet-v3-small",
        "efficientnet-b0",
    ]
    assert TEMPLATES["seed"][0] == "Seed CNN"
    for title, description in TEMPLATES.values():
        assert title and description.endswith(".")


def test_transfer_templates_are_frozen_backbones_on_cropped_pictures():
    spec = template("mobilenet-v3-small")
    assert spec.input == Input(224, 224, 3, fit="crop")
    backbone = spec.layers[1]
    assert isinstance(backbone, Backbone)
    assert (backbone.arch, backbone.weights, backbone.train_blocks) == ("mobilenet_v3_small", "imagenet", 0)


def test_unknown_template_lists_the_names():
    with pytest.raises(UserError, match="no template called 'vgg'.*seed, tiny, small-vgg, resnet18"):
        template("vgg")


def test_a_version_1_file_loads():
    saved = {
        "schema_version": 1,
        "name": "mine",
        "layers": [
            {"type": "Input", "height": 28, "width": 28, "channels": 1, "fit": "pad"},
            {"type": "Conv2D", "filters": 8, "kernel_size": [3, 3], "activation": "relu"},
            {"type": "Flatten"},
            {"type": "Dense", "units": "auto", "activation": "softmax"},
        ],
    }
    spec = ModelSpec.from_dict(saved)
    assert spec.name == "mine"
    assert spec.layers[1] == Conv2D(8, (3, 3), activation="relu")
    assert infer_shapes(spec, 4).output_shape == (4,)
    assert migrate(saved)["schema_version"] == SCHEMA_VERSION


def test_newer_or_broken_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="newer CNN Studio"):
        ModelSpec.from_dict({"schema_version": SCHEMA_VERSION + 1, "layers": []})
    with pytest.raises(UserError, match="not a CNN Studio model design"):
        ModelSpec.from_dict({"hello": 1})
    with pytest.raises(UserError, match="not valid JSON"):
        ModelSpec.from_json("{oops")
    with pytest.raises(UserError, match="no model design file"):
        ModelSpec.load(tmp_path / "missing.json")


def test_save_and_load_a_file(tmp_path):
    path = tmp_path / "design.json"
    template("small-vgg").save(path)
    assert ModelSpec.load(path) == template("small-vgg")


def test_edits_make_new_specs():
    spec = ModelSpec([Input(8, 8), Flatten(), Dense("auto")])
    inserted = spec.insert_layer(1, Conv2D(4, 3))
    assert [layer.type for layer in inserted.layers] == ["Input", "Conv2D", "Flatten", "Dense"]
    assert len(spec.layers) == 3
    assert inserted.move_layer(1, 2).layers[2] == Conv2D(4, 3)
    assert inserted.replace_layer(1, Conv2D(8, 3)).layers[1].filters == 8
    assert inserted.remove_layer(1) == spec


def test_preprocessing_of_a_custom_cnn_is_plain_rescaling():
    prep = template("seed").preprocessing()
    assert prep == Preprocessing(64, 64, "RGB", "stretch", 1 / 255, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    grey = ModelSpec([Input(28, 20, 1, fit="pad"), Flatten(), Dense("auto")]).preprocessing()
    assert (grey.channels, grey.num_channels, grey.mean, grey.std, grey.fit) == (
        "L",
        1,
        (0.0,),
        (1.0,),
        "pad",
    )
    assert Preprocessing.from_dict(json.loads(json.dumps(prep.to_dict()))) == prep


def test_preprocessing_of_a_backbone_uses_imagenet_statistics():
    prep = template("resnet18").preprocessing()
    assert (prep.height, prep.width, prep.fit) == (224, 224, "crop")
    assert prep.mean == (0.485, 0.456, 0.406) and prep.std == (0.229, 0.224, 0.225)
    x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2).expand(2, 3, 1, 2)
    out = prep.normalize(x)
    assert out.dtype == torch.float32 and out.shape == (2, 3, 1, 2)
    expected = (
        torch.tensor([0.0, 1.0]).view(1, 1, 2) - torch.tensor(prep.mean).view(3, 1, 1)
    ) / torch.tensor(prep.std).view(3, 1, 1)
    assert torch.allclose(out[1], expected)
    assert torch.allclose(prep.normalize(x[0]), expected)  # a single (C, H, W) picture too


def test_plain_rescaling_divides_by_255():
    x = torch.tensor([[[0, 51, 255]]], dtype=torch.uint8)
    out = ModelSpec([Input(1, 3, 1), Flatten(), Dense("auto")]).preprocessing().normalize(x)
    assert torch.allclose(out, torch.tensor([[[0.0, 0.2, 1.0]]]))


def test_damaged_preprocessing_is_a_user_error():
    with pytest.raises(UserError, match="preprocessing settings are damaged"):
        Preprocessing.from_dict({"width": 3})


def test_spec_input_requires_an_input_layer():
    with pytest.raises(UserError, match="must start with an Input"):
        ModelSpec([Flatten()]).preprocessing()


def test_normalize_stays_on_the_pictures_device():
    x = torch.zeros(2, 3, 4, 4, dtype=torch.uint8, device="meta")  # stands in for a GPU
    for name in ("seed", "resnet18"):
        out = template(name).preprocessing().normalize(x)
        assert (out.device.type, out.dtype, out.shape) == ("meta", torch.float32, x.shape)
