"""A calibrated model (temperature != 1, with an unknown score) through every export and back.

The model is a real tiny CNN trained for a few epochs on real pictures written by Pillow; its
calibration is fitted on them (then its temperature set to 2.5, so that a lost temperature shows).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import pytest
import torch
from image_fixtures import write_tiny_image_folder

from cnnstudio.core.dataset import decode_image
from cnnstudio.core.evaluate import predict_probabilities
from cnnstudio.core.export import LoadedModel, Predictor, export_model, load_model, load_torchscript
from cnnstudio.core.export.metadata import TEMPERATURE_KEY, UNKNOWN_KEY
from cnnstudio.core.export.onnx_export import read_onnx_metadata
from cnnstudio.core.spec import build_model, template
from cnnstudio.core.train import TrainConfig, Trainer
from cnnstudio.core.trust import fit_trust, predict_calibrated

FORMATS = ["bundle", "onnx", "pt2", "torchscript"]
SUFFIX = {"bundle": "cnnmodel", "onnx": "onnx", "pt2": "pt2", "torchscript": "pt"}


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    root = tmp_path_factory.mktemp("calibrated")
    data = write_tiny_image_folder(root / "data", classes=3, per_class=12, size=24)
    spec = template("tiny")
    prep = spec.preprocessing()
    paths = sorted(str(p) for p in data.rglob("*.png")) or sorted(str(p) for p in data.rglob("*.*"))
    names = sorted({Path(p).parent.name for p in paths})
    X = np.stack([decode_image(p, prep.height, prep.width, prep.num_channels, prep.fit) for p in paths])
    y = np.array([names.index(Path(p).parent.name) for p in paths])
    torch.manual_seed(0)
    trainer = Trainer(
        spec, TrainConfig(epochs=3, batch_size=8, lr=0.01), class_names=names, preprocessing=prep
    )
    trainer.fit((X, y))
    model = trainer.model.to("cpu").eval()
    cal = fit_trust(model, prep, X, y, X, y)
    cal.temperature = 2.5
    noise = np.random.default_rng(1).integers(0, 256, (8, *X.shape[1:]), dtype=np.uint8)
    images = np.concatenate([X, noise, np.zeros_like(noise[:2])])
    # A threshold in the middle of these pictures' scores, so that both flags must travel. (How well
    # the score tells pictures apart is measured by benchmarks/bench_trust.py on a real model.)
    cal.threshold = float(np.median(predict_calibrated(model, images, prep, cal).unknown_scores)) + 1e-3
    loaded = LoadedModel(model, prep, names, spec.to_dict(), "test", calibration=cal)
    exports = {
        fmt: export_model(
            loaded,
            fmt,
            root / "out" / f"m.{SUFFIX[fmt]}",
            images,
        )
        for fmt in FORMATS
    }
    return SimpleNamespace(root=root, data=data, loaded=loaded, cal=cal, images=images, exports=exports)


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_verification_covers_probabilities_and_unknown_flags(calibrated, fmt):
    result = calibrated.exports[fmt]
    assert calibrated.cal.method == "layers" and calibrated.cal.unknown.maps_width > 0  # maps travel too
    assert result.verification.ok, result.message
    assert result.verification.unknown_checked and result.verification.same_unknown == len(calibrated.images)
    assert "the same unknown flags for all" in result.message


def _independent(fmt: str, path: Path, X: np.ndarray, prep) -> tuple[np.ndarray, np.ndarray]:
    x = (
        X.astype(np.float32) * np.float32(prep.scale) - np.float32(prep.mean).reshape(1, -1, 1, 1)
    ) / np.float32(prep.std).reshape(1, -1, 1, 1)
    if fmt == "onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        probs, scores = session.run(None, {"image": x})
        return probs, scores
    if fmt == "torchscript":
        with torch.inference_mode():
            probs, scores = load_torchscript(path)(torch.from_numpy(x))
        return probs.numpy(), scores.numpy()
    if fmt == "pt2":
        with torch.inference_mode():
            probs, scores = torch.export.load(str(path)).module()(torch.from_numpy(x))
        return probs.numpy(), scores.numpy()
    loaded = load_model(path)
    out = predict_calibrated(loaded.model, X, loaded.preprocessing, loaded.calibration)
    return out.probs, out.unknown_scores


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_temperature_round_trips_and_exported_probabilities_equal_the_apps(calibrated, fmt):
    app = Predictor(calibrated.loaded)
    reference, ref_scores = app.outputs(calibrated.images)
    raw = predict_probabilities(calibrated.loaded.model, calibrated.images, calibrated.loaded.preprocessing)
    assert np.abs(reference - raw).max() > 0.01  # the temperature does change what is shown
    probs, scores = _independent(
        fmt, calibrated.exports[fmt].path, calibrated.images, calibrated.loaded.preprocessing
    )
    np.testing.assert_allclose(probs, reference, atol=1e-4)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-4, atol=1e-4)
    flags = scores > calibrated.cal.threshold
    assert (flags == (ref_scores > calibrated.cal.threshold)).all()
    assert 0 < flags.sum() < len(flags)


def test_the_metadata_says_temperature_and_unknown(calibrated):
    meta = read_onnx_metadata(calibrated.exports["onnx"].path)
    assert float(meta[TEMPERATURE_KEY]) == 2.5
    unknown = json.loads(meta[UNKNOWN_KEY])
    assert unknown["method"] == "layers" and unknown["threshold"] == calibrated.cal.threshold
    assert unknown["output"] == "unknown_score"
    beside = json.loads(calibrated.exports["torchscript"].extra_files[0].read_text(encoding="utf-8"))
    assert beside[TEMPERATURE_KEY] == 2.5 and beside[UNKNOWN_KEY]["threshold"] == calibrated.cal.threshold
    bundle = load_model(calibrated.exports["bundle"].path)
    assert bundle.calibration.temperature == 2.5 and bundle.calibration.threshold == calibrated.cal.threshold


def test_predict_example_reports_unknown_like_the_app(calibrated, tmp_path):
    from PIL import Image

    folder = calibrated.exports["onnx"].path.parent
    odd = tmp_path / "odd"
    odd.mkdir()
    rng = np.random.default_rng(3)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(odd / f"noise_{i}.png")
    Image.new("RGB", (30, 30), (0, 0, 0)).save(odd / "black.png")
    pictures = sorted(calibrated.data.rglob("*.*"))[::4] + sorted(odd.iterdir())
    done = subprocess.run(
        [sys.executable, "predict_example.py", "--model", "m.onnx", "--json", *map(str, pictures)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    example = {row["path"]: row for row in json.loads(done.stdout)["predictions"]}
    result = Predictor(calibrated.loaded).predict(pictures)
    assert len(result.predictions) == len(pictures)
    for p in result.predictions:
        row = example[p.path]
        assert row["unknown"] == p.unknown
        assert row["unknown_score"] == pytest.approx(p.unknown_score, rel=1e-4, abs=1e-4)
        assert row["confidence"] == pytest.approx(p.confidence, abs=1e-4)
    assert {row["unknown"] for row in example.values()} == {True, False}


def test_an_uncalibrated_model_exports_as_before(tmp_path):
    torch.manual_seed(0)
    spec = template("tiny")
    loaded = LoadedModel(
        build_model(spec, 3).eval(), spec.preprocessing(), ["a", "b", "c"], spec.to_dict(), "t"
    )
    images = np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    result = export_model(loaded, "onnx", tmp_path / "plain.onnx", images)
    assert result.verification.ok and not result.verification.unknown_checked
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["probabilities"]
    assert json.loads(read_onnx_metadata(result.path)[UNKNOWN_KEY]) is None
