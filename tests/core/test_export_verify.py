"""Verification: an export that does not predict what the app predicts is refused loudly and not kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnstudio.core.errors import UserError
from cnnstudio.core.export import (
    LoadedModel,
    VerificationResult,
    compare,
    export_model,
    onnx_export,
    output_path,
)
from cnnstudio.core.spec import build_model, template


def probs(rows):
    return np.asarray(rows, dtype=np.float32)


def test_identical_probabilities_pass_with_a_plain_message():
    ref = probs([[0.9, 0.1], [0.2, 0.8]] * 750)
    result = compare("onnx", ref, ref + 2e-6)
    assert result.ok and result.images == result.same_top1 == 1500
    assert (
        result.message
        == "ONNX verified on 1,500 validation images: same class for all, largest difference 2e-6"
    )


def test_a_different_class_fails():
    result = compare("torchscript", probs([[0.9, 0.1], [0.2, 0.8]]), probs([[0.9, 0.1], [0.8, 0.2]]))
    assert not result.ok and result.same_top1 == 1
    assert "different class for 1 of 2 images" in result.message and "NOT match" in result.message


def test_a_small_drift_in_probabilities_fails_even_with_the_same_classes():
    result = compare("bundle", probs([[0.9, 0.1]]), probs([[0.9002, 0.0998]]))
    assert not result.ok and result.same_top1 == 1
    assert "differ by up to 2e-4" in result.message


def test_a_tie_may_go_either_way():
    ref = probs([[0.5, 0.5 - 1e-7, 0.0]])
    result = compare("onnx", ref, probs([[0.5 - 1e-7, 0.5, 0.0]]))
    assert result.ok


def test_wrong_shapes_and_nan_fail():
    assert not compare("onnx", probs([[0.5, 0.5]]), probs([[0.3, 0.3, 0.4]])).ok
    assert not compare("onnx", probs([[0.9, 0.1]]), probs([[np.nan, 0.1]])).ok


def test_to_dict_carries_the_message():
    result = VerificationResult("onnx", 1, 1, 0.0, True)
    assert (
        result.to_dict()["message"]
        == "ONNX verified on 1 validation image: same class for all, largest difference 0"
    )


@pytest.fixture
def loaded():
    torch.manual_seed(0)
    spec = template("tiny")
    return LoadedModel(build_model(spec, 3), spec.preprocessing(), ["a", "b", "c"], spec.to_dict(), "test")


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (12, 3, 32, 32), dtype=np.uint8)


def test_a_bad_export_raises_and_keeps_neither_it_nor_touches_the_old_file(
    loaded, images, tmp_path, monkeypatch
):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"the user's previous export")
    real_write = onnx_export.write_onnx

    def broken_write(path, model, preprocessing, class_names, **kw):
        # An exporter bug: the model written is not the one given (its last layer is changed).
        wrong = build_model(template("tiny"), 3)
        return real_write(path, wrong, preprocessing, class_names, **kw)

    monkeypatch.setattr(onnx_export, "write_onnx", broken_write)
    with pytest.raises(UserError) as caught:
        export_model(loaded, "onnx", target, images)
    message = str(caught.value)
    assert message.startswith("ONNX export does NOT match the app on 12 validation images")
    assert "was not saved" in message and "\n" not in message
    assert target.read_bytes() == b"the user's previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_a_model_given_as_code_cannot_be_a_bundle(loaded, images, tmp_path):
    loaded.spec = None
    with pytest.raises(UserError, match="bundle"):
        export_model(loaded, "bundle", tmp_path / "m.cnnmodel", images)
    assert list(tmp_path.iterdir()) == []


def test_unknown_format(loaded, images, tmp_path):
    with pytest.raises(UserError, match="bundle, onnx, torchscript, pt2"):
        export_model(loaded, "keras", tmp_path / "m.h5", images)


def test_output_paths(tmp_path):
    assert output_path(tmp_path, "onnx", "p-run") == tmp_path / "p-run.onnx"
    assert output_path(f"{tmp_path}/new/", "bundle", "p-run") == tmp_path / "new" / "p-run.cnnmodel"
    assert output_path(tmp_path / "m", "torchscript", "x") == tmp_path / "m.pt"
    assert output_path(tmp_path / "m.pth", "torchscript", "x") == tmp_path / "m.pth"
    assert output_path(tmp_path / "m.v2", "bundle", "x") == tmp_path / "m.v2.cnnmodel"
