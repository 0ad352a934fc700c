"""The design as code: the PyTorch code builds the very model build_model() builds; the Keras code
is valid Python in the guide's style that names every layer."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest
import torch
from design_fixtures import AWKWARD

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec import (
    TEMPLATES,
    AveragePooling2D,
    Backbone,
    Conv2D,
    Dense,
    Flatten,
    Input,
    ModelSpec,
    build_model,
    template,
)
from cnnstudio.core.spec.codegen import keras_code, pytorch_code


def _offline(spec: ModelSpec) -> ModelSpec:
    """Backbones with random weights: the generated code must then download nothing."""
    return spec.with_layers(
        [layer.replace(weights="random") if isinstance(layer, Backbone) else layer for layer in spec.layers]
    )


def _run(code: str) -> dict:
    namespace = {"__name__": "generated"}
    exec(compile(code, "generated.py", "exec"), namespace)
    return namespace


def _counts(model: torch.nn.Module) -> tuple[int, int]:
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_pytorch_code_builds_the_same_model_for_every_template(name):
    spec = _offline(template(name))
    code = pytorch_code(spec, 5)
    assert "IMAGENET" not in code  # random weights: nothing to download
    model = _run(code)["model"]
    assert _counts(model) == _counts(build_model(spec, 5))


# AWKWARD (tests/design_fixtures.py): every layer type and the awkward cases: "same" padding with
# strides and even kernels at odd sizes, frozen layers, penalties, a trailing softmax Activation.
@pytest.mark.parametrize(
    "spec",
    [
        template("seed"),
        template("small-vgg"),
        AWKWARD,
        ModelSpec(
            [
                Input(9, 7, 3),
                AveragePooling2D(2, padding="same"),
                Flatten(),
                Dense("auto", activation="softmax"),
            ]
        ),
    ],
    ids=["seed", "small-vgg", "awkward", "avg-same-asymmetric"],
)
def test_pytorch_code_computes_what_the_app_computes(spec):
    namespace = _run(pytorch_code(spec, 3))
    model, reference = namespace["model"], build_model(spec, 3)
    ours, theirs = model.state_dict(), reference.state_dict()
    assert [v.shape for v in ours.values()] == [v.shape for v in theirs.values()]
    model.load_state_dict(dict(zip(ours, theirs.values(), strict=True)))
    pictures = torch.randint(
        0, 256, (2, spec.input.channels, spec.input.height, spec.input.width), dtype=torch.uint8
    )
    model.eval()
    reference.eval()
    with torch.no_grad():
        got = model(namespace["preprocess"](pictures))
        want = reference(spec.preprocessing().normalize(pictures))
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert _counts(model) == _counts(reference)


def test_pytorch_code_keeps_frozen_batch_norms_still_and_adds_penalties():
    namespace = _run(pytorch_code(AWKWARD, 3))
    model = namespace["model"].train()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert [m.training for m in norms] == [False, True]  # the locked one stays in inference mode
    assert model.regularization_loss().item() > 0


def test_backbone_code_unfreezes_the_last_blocks():
    spec = _offline(template("mobilenet-v3-small"))
    spec = spec.replace_layer(1, spec.layers[1].replace(train_blocks=2))
    model = _run(pytorch_code(spec, 4))["model"]
    assert _counts(model) == _counts(build_model(spec, 4))


def test_backbone_code_with_imagenet_weights_names_them():
    code = pytorch_code(template("resnet18"), 4)
    assert 'torchvision.models.resnet18(weights="IMAGENET1K_V1")' in code
    compile(code, "generated.py", "exec")


def test_weights_file_is_loaded_by_the_generated_code(tmp_path):
    import torchvision

    path = tmp_path / "mine.pth"
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), path)
    spec = template("mobilenet-v3-small")
    spec = spec.replace_layer(1, spec.layers[1].replace(weights=str(path)))
    model = _run(pytorch_code(spec, 4))["model"]
    saved = torch.load(path, weights_only=True)
    torch.testing.assert_close(model.backbone.features[0][0].weight, saved["features.0.0.weight"])


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_keras_code_is_python_in_the_guides_style(name):
    spec = template(name)
    code = keras_code(spec, 5)
    tree = ast.parse(code)  # valid Python
    compile(tree, "keras_model.py", "exec")
    assert "keras.Sequential(" in code
    assert "model.compile(optimizer='adam'" in code
    assert "metrics=['accuracy']" in code
    assert "layers.Input(shape=" in code
    for layer in spec.layers[1:]:
        if isinstance(layer, Backbone):
            written_out = layer.arch == "resnet18"  # keras.applications has none: written out
            assert ("def resnet18(input_shape):" if written_out else "keras.applications.") in code
        else:
            assert code.count(f"layers.{layer.type}(") == sum(
                1 for other in spec.layers if other.type == layer.type
            )


def test_keras_code_follows_the_guide_for_the_seed():
    code = keras_code(template("seed"), 10)
    assert "layers.Input(shape=(64, 64, 3))," in code
    assert "layers.Rescaling(1./255)," in code
    assert "layers.Conv2D(32, (3, 3), activation='relu')," in code
    assert "layers.Dense(num_classes, activation='softmax')," in code
    assert "loss='sparse_categorical_crossentropy'" in code
    assert "num_classes = 10" in code


def test_keras_code_translates_every_setting():
    code = keras_code(AWKWARD, 3)
    compile(code, "keras_model.py", "exec")
    assert "layers.Input(shape=(37, 29, 1))," in code
    assert "strides=(2, 2), padding='same', activation='leaky_relu'" in code
    assert "kernel_regularizer=keras.regularizers.L1L2(l1=0.0, l2=0.0001)" in code
    assert "trainable=False" in code
    assert "name='hidden'" in code
    assert "momentum=0.9, epsilon=0.001" in code
    assert "color_mode='grayscale'" in code
    assert "Keras flattens row by row" in code  # the translation says where it differs


def test_keras_code_for_resnet18_is_a_real_resnet18(tmp_path):
    """keras.applications has no ResNet-18: the code writes one out. Run with Keras (torch backend),
    it has torchvision's ResNet-18 parameter count, 512 features, and the whole model CNN Studio's."""
    code = keras_code(template("resnet18"), 3)
    assert "ResNet50" not in code and "def resnet18(input_shape):" in code
    assert "Keras has no ResNet-18 weights" in code  # says plainly what differs: random start
    path = tmp_path / "keras_model.py"
    path.write_text(
        code
        + "\nimport numpy as np\n"
        + "print('backbone', sum(int(np.prod(w.shape)) for w in base_model.weights if 'moving' not in w.path))\n"
        + "print('model', sum(int(np.prod(w.shape)) for w in model.trainable_weights))\n"
        + "print('features', base_model.output_shape[-1], 'out', model.output_shape[-1])\n",
        encoding="utf-8",
    )
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert "backbone 11176512" in lines  # torchvision's resnet18 without fc
    assert "model 11178051" in lines  # CNN Studio's resnet18 template with 3 classes, all trainable here
    assert "features 512 out 3" in lines


def test_logits_head_uses_from_logits_in_keras():
    spec = ModelSpec([Input(16, 16, 3), Flatten(), Dense("auto")])
    assert "from_logits=True" in keras_code(spec, 3)


def test_a_design_that_does_not_work_is_not_written():
    spec = ModelSpec([Input(8, 8, 3), Conv2D(4, 9), Flatten(), Dense("auto")])
    with pytest.raises(UserError, match="no longer fits"):
        pytorch_code(spec, 3)
    with pytest.raises(UserError, match="no longer fits"):
        keras_code(spec, 3)


def test_layer_names_become_safe_attributes():
    spec = ModelSpec(
        [
            Input(16, 16, 3),
            Conv2D(4, 3, name="my conv"),
            Conv2D(4, 3, name="train"),
            Flatten(name="class"),
            Dense("auto", name="2nd"),
        ]
    )
    model = _run(pytorch_code(spec, 3))["model"]
    assert _counts(model) == _counts(build_model(spec, 3))
    model.train()  # a layer called "train" must not hide Module.train()
